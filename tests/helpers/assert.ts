/** Assertions from node:assert (JSR's @std/assert is out of reach here), with Deno-std-like names. */
import { deepStrictEqual, notDeepStrictEqual, ok, rejects } from "node:assert/strict";

export function assert(value: unknown, message?: string): asserts value {
  ok(value, message as string);
}
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message as string);
}
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  notDeepStrictEqual(actual, expected, message as string);
}
export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  ok(pattern.test(actual), message ?? `${JSON.stringify(actual)} does not match ${pattern}`);
}
export async function assertRejects(fn: () => Promise<unknown>, message?: string): Promise<void> {
  await rejects(fn, message);
}
