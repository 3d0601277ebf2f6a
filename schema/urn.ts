/** `project/stack` of a Pulumi URN (urn:pulumi:<stack>::<project>::<type>::<name>); the URN itself when it is not one. */
export function stackOfUrn(urn: string): string {
  const m = /^urn:pulumi:([^:]+)::([^:]+)::/.exec(urn);
  return m ? `${m[2]}/${m[1]}` : urn;
}
