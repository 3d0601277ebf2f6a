import { containerLifecycle, declaration, replaceKeys } from "./container";
import { withMigration } from "./container-migrate";
import { hostLifecycle } from "./host";
import { limitsLifecycle } from "./limits";
import { networkLifecycle } from "./network";
import { placementLifecycle } from "./placement-lifecycle";
import type { LifecycleImpl } from "./provider-types";
import { watchEngine } from "./engine-watchdog";
import { showDiffDetail } from "./diff-detail";

// Loaded by the provider shim inside the engine's dynamic-provider process: exit when the engine is gone.
watchEngine();

/** Every resource kind's implementation, looked up by the provider shim at call time. */
export const lifecycles: Record<string, LifecycleImpl> = {
  host: hostLifecycle,
  limits: limitsLifecycle,
  // a move to another host migrates (container-migrate.ts)
  // the kernel's drift is named in the engine's diff display (diff-detail.ts)
  container: showDiffDetail(withMigration(containerLifecycle, declaration, replaceKeys)),
  network: networkLifecycle,
  placement: placementLifecycle,
};
