/**
 * Server reflection (grpc.reflection.v1 and v1alpha) served from the descriptor set that `buf build` writes at
 * build time: the compiler's own descriptors of every served .proto and its imports. Descriptors rebuilt by
 * proto-loader carry map entries that protobuf-go rejects, so grpcurl and buf curl could not describe
 * grpc.health.v1 (fullstorydev/grpcurl#519).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import type { Server, ServiceDefinition } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";

/** Written by `npm run build` beside the generated code, in src/gen/ and dist/src/gen/. */
export const DESCRIPTOR_SET_FILE = fileURLToPath(new URL("../gen/descriptor-set.binpb", import.meta.url));

/** The services ReflectionService adds to the server: reflection describes itself too, as grpc-go's does. */
export const REFLECTION_SERVICES = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/** A grpc-js service's full name, read from its methods' paths (`/rerank.v1.RerankService/Rerank`). */
export function serviceName(definition: ServiceDefinition): string {
  const path = Object.values(definition)[0]?.path;
  const name = path?.split("/")[1];
  if (!name) throw new Error(`a gRPC service definition without a method path: ${JSON.stringify(path)}`);
  return name;
}

export function loadDescriptorSet(file = DESCRIPTOR_SET_FILE): FileDescriptorSet {
  try {
    return fromBinary(FileDescriptorSetSchema, readFileSync(file));
  } catch (error) {
    throw new Error(`cannot read the reflection descriptor set ${file} (npm run build writes it): ${(error as Error).message}`);
  }
}

/** The full names of the services a descriptor set declares. */
export function declaredServices(set: FileDescriptorSet): string[] {
  return set.file.flatMap((file) => file.service.map((service) => (file.package ? `${file.package}.` : "") + service.name));
}

/**
 * Adds reflection to `server`, listing exactly the `served` services and reflection itself. Fails when the
 * descriptor set lacks one of them, so that a service added to the server without its .proto in the set stops
 * start-up instead of being invisible to clients.
 */
export function addReflection(server: Server, served: ServiceDefinition[], set = loadDescriptorSet()): void {
  const exposed = [...served.map(serviceName), ...REFLECTION_SERVICES];
  const declared = new Set(declaredServices(set));
  const missing = exposed.filter((name) => !declared.has(name));
  if (missing.length > 0) {
    throw new Error(`the reflection descriptor set lacks ${missing.join(", ")}: add its .proto to the build's buf build paths`);
  }
  // @grpc/reflection reads only the fileDescriptorProtos of each package entry (reflection-v1.js).
  const definition = {
    descriptorSet: { fileDescriptorProtos: set.file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file))) },
  } as unknown as PackageDefinition;
  new ReflectionService(definition, { services: exposed }).addToServer(server);
}
