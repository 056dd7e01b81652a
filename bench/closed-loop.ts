import { performance } from "node:perf_hooks";

/** Caps one run's requests, so that a gateway failing instantly cannot make a closed loop spin unbounded. */
const MAX_REQUESTS = 100_000;

/**
 * Closed loop: `clients` clients, each sending its next request when its last one answered, until `stopAt`
 * (performance.now() milliseconds) or `maxRequests` in all; requests in flight at `stopAt` are waited for.
 * Returns what `send` gave, in completion order.
 */
export async function closedLoop<T>(
  clients: number,
  stopAt: number,
  send: (client: number) => Promise<T>,
  maxRequests = MAX_REQUESTS,
): Promise<T[]> {
  const results: T[] = [];
  let started = 0;
  const client = async (index: number) => {
    while (performance.now() < stopAt && started < maxRequests) {
      started++;
      results.push(await send(index));
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, index) => client(index)));
  return results;
}
