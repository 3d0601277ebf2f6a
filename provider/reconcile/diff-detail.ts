import type { DiffResult, LifecycleImpl } from "./provider-types";

/**
 * Why an update happens, in the engine's display.
 *
 * A Node dynamic provider's `diff` can return only `changes`, `replaces` and `deleteBeforeReplace`:
 * the SDK's dynamic-provider server (`@pulumi/pulumi/cmd/dynamic-provider`) copies those three into
 * its gRPC DiffResponse and drops anything else (`diffs`, `stables`, `detailedDiff`). The engine
 * then shows the diff of the old and new *inputs* (`[diff: ]` is empty when the kernel drifted but
 * the declaration did not), or, when the response has a detailed diff, that detailed diff: a
 * property marked there is what `[diff: ~state]` and the property's line in `--diff` show.
 *
 * So a lifecycle's diff attaches the input properties the kernel contradicts (`withDetail`), and
 * `showDiffDetail`, inside the dynamic-provider process only, puts them into the DiffResponse as
 * `diffs` and a detailed diff of kind UPDATE: the server reads `result.changes` and calls
 * `resp.setChanges` right after, synchronously, so the keys armed by the first are taken by the
 * second and cannot reach another resource's response. Elsewhere (tests, the kernel tier) the
 * result is the plain object and `detailOf` reads its keys.
 */
// process-wide, not a host read: a diff result's keys, taken by the response built in this process
const details = new WeakMap<DiffResult, string[]>();

/** Records the input properties the kernel contradicts (none: nothing recorded); returns the result. */
export function withDetail(result: DiffResult, keys: string[]): DiffResult {
  if (keys.length) details.set(result, [...new Set(keys)]);
  return result;
}

/** The properties a diff result names as differing in the kernel, if any. */
export const detailOf = (result: DiffResult): string[] | undefined => details.get(result);

interface ProtoDiffResponse {
  setDiffsList(keys: string[]): void;
  getDetaileddiffMap(): { set(key: string, value: unknown): void };
  setHasdetaileddiff(v: boolean): void;
}
interface ProtoModule {
  DiffResponse: { prototype: ProtoDiffResponse & { setChanges(v: number): unknown } };
  PropertyDiff: { new (): { setKind(k: number): unknown; setInputdiff(v: boolean): unknown }; Kind: { UPDATE: number } };
}

// process-wide, not a host read: the one server's patched DiffResponse and the keys it takes next
let pending: string[] | undefined;
let hooked: boolean | undefined;

/** Patches the dynamic-provider server's DiffResponse once; false outside that process. */
function hook(): boolean {
  if (hooked !== undefined) return hooked;
  hooked = false;
  const main = require.main;
  if (!main || !/[\\/]cmd[\\/]dynamic-provider[\\/]index\.js$/.test(main.filename)) return false;
  try {
    // the server's own copy of the generated protobuf module (the one its DiffResponse comes from)
    const proto = main.require("../../proto/provider_pb") as ProtoModule;
    const setChanges = proto.DiffResponse.prototype.setChanges;
    proto.DiffResponse.prototype.setChanges = function (this: ProtoDiffResponse, v: number) {
      const r = setChanges.call(this, v);
      const keys = pending;
      pending = undefined;
      if (keys) {
        this.setDiffsList(keys);
        for (const k of keys) {
          const d = new proto.PropertyDiff();
          d.setKind(proto.PropertyDiff.Kind.UPDATE);
          d.setInputdiff(false);
          this.getDetaileddiffMap().set(k, d);
        }
        this.setHasdetaileddiff(true);
      }
      return r;
    };
    hooked = true;
  } catch {
    // another SDK layout: the display stays as the engine computes it
  }
  return hooked;
}

/** A lifecycle whose diff hands its detail to the engine (in the dynamic-provider process). */
export function showDiffDetail(impl: LifecycleImpl): LifecycleImpl {
  return {
    ...impl,
    async diff(id, olds, news) {
      const result = await impl.diff(id, olds, news);
      const keys = detailOf(result);
      if (!keys || result.changes !== true || !hook()) return result;
      const shown = { ...result } as DiffResult;
      Object.defineProperty(shown, "changes", {
        enumerable: true,
        get() {
          pending = keys;
          // taken by the setChanges that follows at once; never left for another response
          queueMicrotask(() => (pending = undefined));
          return true;
        },
      });
      return shown;
    },
  };
}
