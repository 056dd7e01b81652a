/** The descriptor set server reflection serves (npm run build writes it): valid, complete, and exactly the API. */
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Server, type ServiceDefinition } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  addReflection,
  declaredServices,
  DESCRIPTOR_SET_FILE,
  loadDescriptorSet,
  REFLECTION_SERVICES,
  serviceName,
} from "../../src/api/reflection.js";
import { SERVED_SERVICES } from "../../src/api/server.js";

const bytes = readFileSync(DESCRIPTOR_SET_FILE);
const set = loadDescriptorSet();
// protobuf-es resolves every type reference and import of the set here, and throws on any it cannot.
const registry = createFileRegistry(set);
const exposed = [...SERVED_SERVICES.map(serviceName), ...REFLECTION_SERVICES].sort();

describe("the reflection descriptor set", () => {
  it("decodes, and re-encodes to the bytes buf wrote (reflection hands out the compiler's descriptors)", () => {
    expect(Buffer.from(toBinary(FileDescriptorSetSchema, fromBinary(FileDescriptorSetSchema, bytes)))).toEqual(bytes);
  });

  it("declares exactly the services the server exposes: the API, health, reflection v1 and v1alpha", () => {
    expect(exposed).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "rerank.v1.RerankService",
    ]);
    expect(declaredServices(set).sort()).toEqual(exposed);
  });

  it.each(SERVED_SERVICES.map((definition) => [serviceName(definition), definition] as const))(
    "describes every method %s serves",
    (name, definition: ServiceDefinition) => {
      const methods = registry.getService(name)?.methods.map((method) => `/${name}/${method.name}`);
      expect(methods?.sort()).toEqual(
        Object.values(definition)
          .map((method) => method.path)
          .sort(),
      );
    },
  );

  it.each(REFLECTION_SERVICES)("describes %s's ServerReflectionInfo stream", (name) => {
    const [method, ...others] = registry.getService(name)?.methods ?? [];
    expect(others).toEqual([]);
    expect(method?.name).toBe("ServerReflectionInfo");
    expect(method?.methodKind).toBe("bidi_streaming");
  });

  it("carries real map entries: grpc.health.v1.HealthListResponse.statuses is a map (grpcurl#519)", () => {
    const statuses = registry.getMessage("grpc.health.v1.HealthListResponse")?.field.statuses;
    expect(statuses?.fieldKind).toBe("map");
    expect(statuses?.fieldKind === "map" && statuses.message?.typeName).toBe("grpc.health.v1.HealthCheckResponse");
  });
});

describe("addReflection", () => {
  it("refuses to start when a served service is missing from the descriptor set, naming it", () => {
    const unknown: ServiceDefinition = {
      Do: { ...Object.values(SERVED_SERVICES[0]!)[0]!, path: "/nope.v1.NopeService/Do" },
    };
    expect(() => addReflection(new Server(), [...SERVED_SERVICES, unknown], set)).toThrow(
      "the reflection descriptor set lacks nope.v1.NopeService",
    );
  });

  it("says how to get the descriptor set when it is missing", () => {
    expect(() => loadDescriptorSet("/nonexistent/descriptor-set.binpb")).toThrow(
      /cannot read the reflection descriptor set \/nonexistent\/descriptor-set.binpb \(npm run build writes it\)/,
    );
  });
});
