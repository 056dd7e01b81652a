/**
 * The import graph is the request's path: api → routing → pipeline → tokenization / triton → catalog, over a
 * kernel (errors.ts, context.ts, observability/) that every stage may use. main.ts composes; config/ is read by
 * main only. `npm run lint` fails on any violation.
 */
const layer = (name) => `^src/${name}/`;
const upward = (from, ...above) => ({
  name: `no-upward-from-${from}`,
  comment: `${from} is below ${above.join(", ")} on the request path and must not import them`,
  severity: "error",
  from: { path: layer(from) },
  to: { path: `^src/(${above.join("|")})(/|\\.ts$)` },
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "an import circle hides which module is the ground floor",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-orphans",
      comment: "a module nothing imports is dead code (entry points and the worker, loaded by URL, aside)",
      severity: "error",
      from: { orphan: true, path: "^src/", pathNot: ["^src/main\\.ts$", "^src/tokenization/worker\\.ts$", "^src/gen/"] },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "nothing-imports-main",
      comment: "main.ts is the composition root",
      severity: "error",
      from: {},
      to: { path: "^src/main\\.ts$" },
    },
    upward("routing", "api", "config", "main"),
    upward("pipeline", "api", "routing", "config", "main"),
    upward("tokenization", "api", "routing", "pipeline", "triton", "config", "main"),
    upward("triton", "api", "routing", "pipeline", "tokenization", "config", "main"),
    upward("catalog", "api", "routing", "pipeline", "tokenization", "triton", "config", "observability", "main"),
    upward("api", "config", "main"),
    upward("config", "api", "routing", "pipeline", "tokenization", "triton", "observability", "main"),
    {
      name: "kernel-stays-at-the-bottom",
      comment: "errors.ts, context.ts and observability/ are used by every stage, so they import none of them",
      severity: "error",
      from: { path: "^src/(errors\\.ts|context\\.ts|observability/)" },
      to: { path: "^src/(api|routing|pipeline|tokenization|triton|catalog|config|main)(/|\\.ts$)" },
    },
    {
      name: "grpc-only-at-the-edges",
      comment: "gRPC is the API's and the Triton transport's business; every other layer speaks in domain errors",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/api/", "^src/triton/client\\.ts$", "^src/gen/"] },
      to: { path: "node_modules/(@grpc/|grpc-health-check/)" },
    },
    {
      name: "public-wire-types-only-in-api",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/api/", "^src/gen/"] },
      to: { path: "^src/gen/rerank/" },
    },
    {
      name: "triton-wire-types-only-in-triton",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/triton/", "^src/gen/"] },
      to: { path: "^src/gen/triton/" },
    },
    {
      name: "no-test-code-outside-tests",
      comment: "the product, the benchmarks and the tools never depend on test code",
      severity: "error",
      from: { path: "^(src|bench|tools)/" },
      to: { path: "^test/" },
    },
    {
      name: "product-stands-alone",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(bench|tools|test)/" },
    },
    {
      name: "product-uses-no-dev-dependencies",
      severity: "error",
      from: { path: "^src/" },
      to: { dependencyTypes: ["npm-dev"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
