import type { FastifySchemaValidationError } from "fastify";

/** A JSON pointer of the body (/documents/0/text) as a client reads it: body.documents[0].text. */
const pathOf = (dataVar: string, pointer: string) => dataVar + pointer.replace(/\/(\d+)/g, "[$1]").replaceAll("/", ".");

/** What a failed schema keyword says, with the value it wanted where ajv leaves that out of its message. */
function complaint(error: FastifySchemaValidationError): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === "additionalProperties") return `has an unknown field "${params.additionalProperty}"`;
  if (error.keyword === "const") return `must be ${JSON.stringify(params.allowedValue)}`;
  return error.message ?? error.keyword;
}

/**
 * One message for a body that failed its schema, naming each field and what it must be; the alternatives of a
 * union (a string or null) are joined with "or".
 */
export function describeSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const byPath = new Map<string, string[]>();
  for (const error of errors.filter((e) => e.keyword !== "anyOf")) {
    const path = pathOf(dataVar, error.instancePath);
    byPath.set(path, [...new Set([...(byPath.get(path) ?? []), complaint(error)])]);
  }
  return new Error([...byPath].map(([path, complaints]) => `${path} ${complaints.join(" or ")}`).join("; "));
}
