import type { InputFailure } from "../../schema/issues";

// The shapes Pulumi's dynamic provider methods take and return, restated here so that the
// lower layers never import @pulumi/pulumi (ARCHITECTURE.md, "Layers").
export type Props = Record<string, unknown>;
export interface CheckResult {
  inputs?: Props;
  failures?: InputFailure[];
}
export interface DiffResult {
  changes?: boolean;
  replaces?: string[];
  deleteBeforeReplace?: boolean;
}
export interface CreateResult {
  id: string;
  outs?: Props;
}
export interface ReadResult {
  id?: string;
  props?: Props;
}
export interface UpdateResult {
  outs?: Props;
}

export interface LifecycleImpl {
  check(olds: Props, news: Props): Promise<CheckResult>;
  diff(id: string, olds: Props, news: Props): Promise<DiffResult>;
  create(inputs: Props): Promise<CreateResult>;
  read(id: string, props: Props): Promise<ReadResult>;
  update(id: string, olds: Props, news: Props): Promise<UpdateResult>;
  delete(id: string, props: Props): Promise<void>;
}
