/**
 * The import graph is the request's path: api → routing → pipeline → tokenization / triton → catalog, over a
 * kernel (errors.ts, context.ts, observability/) that every stage may use. main.ts composes; config/ is read by
 * main only. `npm run lint` fails on any violation.
 */
/** A forbidden dependency; every rule here is an error. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: "error", from, to });
const STAGES = "api|routing|pipeline|tokenization|triton|catalog|config|main";
const upward = (from, ...above) =>
  forbid(
    `no-upward-from-${from}`,
    `${from} is below ${above.join(", ")} on the request path and must not import them`,
    { path: `^src/${from}/` },
    { path: `^src/(${above.join("|")})(/|\\.ts$)` },
  );

module.exports = {
  forbidden: [
    forbid("no-circular", "an import circle hides which module is the ground floor", {}, { circular: true }),
    forbid(
      "no-orphans",
      "a module nothing imports is dead code (the entry point and the worker, loaded by URL, aside)",
      { orphan: true, path: "^src/", pathNot: ["^src/main\\.ts$", "^src/tokenization/worker\\.ts$", "^src/gen/"] },
      {},
    ),
    forbid("not-to-unresolvable", "every import resolves", {}, { couldNotResolve: true }),
    forbid("nothing-imports-main", "main.ts is the composition root", {}, { path: "^src/main\\.ts$" }),
    upward("routing", "api", "config", "main"),
    upward("pipeline", "api", "routing", "config", "main"),
    upward("tokenization", "api", "routing", "pipeline", "triton", "config", "main"),
    upward("triton", "api", "routing", "pipeline", "tokenization", "config", "main"),
    upward("catalog", "api", "routing", "pipeline", "tokenization", "triton", "config", "observability", "main"),
    upward("api", "config", "main"),
    upward("config", "api", "routing", "pipeline", "tokenization", "triton", "observability", "main"),
    forbid(
      "kernel-stays-at-the-bottom",
      "errors.ts, context.ts and observability/ are used by every stage, so they import none of them",
      { path: "^src/(errors\\.ts|context\\.ts|observability/)" },
      { path: `^src/(${STAGES})(/|\\.ts$)` },
    ),
    forbid(
      "grpc-only-at-the-edges",
      "gRPC is the API's and the Triton transport's business; every other layer speaks in domain errors",
      { path: "^src/", pathNot: ["^src/api/", "^src/triton/client\\.ts$", "^src/gen/"] },
      { path: "node_modules/(@grpc/|grpc-health-check/)" },
    ),
    forbid(
      "http-framework-only-in-the-http-edge",
      "fastify, its plugins and the schema builder are the HTTP edge's business (src/api/http/)",
      { path: "^src/", pathNot: ["^src/api/http/"] },
      { path: "node_modules/(fastify|@fastify/|typebox)" },
    ),
    forbid(
      "public-wire-types-only-in-api",
      "the rerank.v1 messages are the API's; routing and below use domain types",
      { path: "^src/", pathNot: ["^src/api/", "^src/gen/"] },
      { path: "^src/gen/rerank/" },
    ),
    forbid(
      "triton-wire-types-only-in-triton",
      "KServe-v2 messages stay in the Triton layer",
      { path: "^src/", pathNot: ["^src/triton/", "^src/gen/"] },
      { path: "^src/gen/triton/" },
    ),
    forbid(
      "no-test-code-outside-tests",
      "the product, the benchmarks and the tools never depend on test code",
      { path: "^(src|bench|tools)/" },
      { path: "^test/" },
    ),
    forbid(
      "product-stands-alone",
      "src/ imports nothing of bench/, tools/ or test/",
      { path: "^src/" },
      { path: "^(bench|tools|test)/" },
    ),
    forbid(
      "product-uses-no-dev-dependencies",
      "what src/ imports must be a runtime dependency",
      { path: "^src/" },
      { dependencyTypes: ["npm-dev"] },
    ),
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
