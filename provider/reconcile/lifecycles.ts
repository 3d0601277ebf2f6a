import { backupLifecycle } from "./backup";
import { containerLifecycle } from "./container";
import { hostLifecycle } from "./host";
import { limitsLifecycle } from "./limits";
import { networkLifecycle } from "./network";
import { placementLifecycle } from "./placement-lifecycle";
import type { CheckResult, LifecycleImpl } from "./provider-types";
import { watchEngine } from "./engine-watchdog";
import { showDiffDetail } from "./diff-detail";

// Loaded by the provider shim inside the engine's dynamic-provider process: exit when the engine is gone.
watchEngine();

/**
 * Check failures as the engine shows them. The engine prints a failure that names a property as
 * `property P value {V} has a problem: R`, looking P up as a top-level input: a nested path such as
 * `limits.cpu.max` finds nothing there and prints `value {<nil>}`. So each failure goes to the engine
 * without a property and with the path leading its reason, which the engine prints as
 * `<type> resource '<name>' has a problem: limits.cpu.max: got -1; …`.
 */
export function forEngine(result: CheckResult): CheckResult {
  if (!result.failures?.length) return result;
  return { ...result, failures: result.failures.map((f) => ({ property: "", reason: f.property ? `${f.property}: ${f.reason}` : f.reason })) };
}

const engineFacing = (impl: LifecycleImpl): LifecycleImpl => ({
  ...impl,
  check: async (olds, news) => forEngine(await impl.check(olds, news)),
});

/** Every resource kind's implementation, looked up by the provider shim at call time. */
export const lifecycles: Record<string, LifecycleImpl> = {
  host: engineFacing(hostLifecycle),
  limits: engineFacing(limitsLifecycle),
  // the kernel's drift is named in the engine's diff display (diff-detail.ts)
  container: engineFacing(showDiffDetail(containerLifecycle)),
  network: engineFacing(networkLifecycle),
  placement: engineFacing(placementLifecycle),
  backup: engineFacing(backupLifecycle),
};
