import * as pulumi from "@pulumi/pulumi";
import { defaultBridge, defaultGateway, defaultGateway6 } from "../../schema/network";
import type { Host } from "./host";
import { hostInput, type HostRef } from "./host-ref";
import { ownerInput } from "./owner";
import { ksliceArgs, quietStacks } from "./shim";
import { networkKind } from "../reconcile/kinds";

export interface NetworkArgs {
  host: Host | pulumi.Input<HostRef>;
  /** The network's name on the host. @default the resource's name */
  name?: pulumi.Input<string>;
  /** IPv4 subnet, "10.88.1.0/24"; changing it replaces the network. */
  subnet: pulumi.Input<string>;
  /** The host's address on the bridge, the containers' default route. @default the subnet's first address */
  gateway?: pulumi.Input<string>;
  /** IPv6 prefix (/64 to /120), "fd36:1::/64": the network is dual-stack and each container gets an IPv6 address too; changing it replaces the network. @default none (IPv4 only) */
  subnet6?: pulumi.Input<string>;
  /** The host's IPv6 address on the bridge, the containers' IPv6 default route. @default the prefix's first host address */
  gateway6?: pulumi.Input<string>;
  /** Bridge name: at most 15 characters, starting with "ks". @default "ks-<name>" (a digest under a non-default prefix) */
  bridge?: pulumi.Input<string>;
  /** Allocated addresses come from this CIDR inside the subnet (Docker's --ip-range); keep static ones outside it. @default the subnet */
  dynamicRange?: pulumi.Input<string>;
  /** Allocated IPv6 addresses come from this prefix inside the subnet6, which must not hold the gateway6; keep static address6 values outside it. @default the subnet6 */
  dynamicRange6?: pulumi.Input<string>;
  /** Masquerade the containers' outbound traffic (nftables); changes apply live. @default false */
  nat?: pulumi.Input<boolean>;
  /** Drop traffic to and from kslice's other networks; changes apply live. @default true */
  isolated?: pulumi.Input<boolean>;
  /** Take over a network of this name that another stack or resource made. @default false */
  adopt?: pulumi.Input<boolean>;
  /** The `ingress` of its containers that declare none (a container's own replaces it); sources here are CIDRs or networks. @default none */
  ingress?: pulumi.Input<pulumi.Input<IngressRuleArgs>[]>;
}

/** Where allowed traffic may come from: exactly one of `cidr`, `container` or `network`. */
export interface IngressSourceArgs {
  /** An IPv4 or IPv6 address or CIDR ("0.0.0.0/0": anywhere over IPv4, "::/0" over IPv6; an IPv6 one needs an IPv6 address to let in to, on a dual-stack network). */
  cidr?: pulumi.Input<string>;
  /** A container of the same host and prefix, by name (pass the other Container's `name` output so it is created first): its addresses, IPv4 and IPv6. */
  container?: pulumi.Input<string>;
  /** A Network's ref or name: its whole subnet, and its subnet6 when dual-stack. */
  network?: pulumi.Input<NetworkRef> | pulumi.Input<string>;
}

/** One declared ingress rule: these sources may open connections to these ports. */
export interface IngressRuleArgs {
  from: pulumi.Input<pulumi.Input<IngressSourceArgs>[]>;
  /** "icmp" takes no ports. @default "tcp" */
  protocol?: pulumi.Input<"tcp" | "udp" | "icmp">;
  /** Ports (8080) or ranges ("8000-8099") on the container. @default every port */
  ports?: pulumi.Input<pulumi.Input<number | string>[]>;
}

/** What a container's `networks[].network` takes: the network's identity, known at preview. */
export interface NetworkRef {
  name: string;
  subnet: string;
  gateway: string;
  bridge: string;
  subnet6?: string;
  gateway6?: string;
}

/** A Linux bridge with a subnet and gateway, optional NAT, isolated from kslice's other networks. */
export class Network extends pulumi.CustomResource {
  declare readonly name: pulumi.Output<string>;
  declare readonly subnet: pulumi.Output<string>;
  declare readonly gateway: pulumi.Output<string>;
  declare readonly bridge: pulumi.Output<string>;
  declare readonly subnet6: pulumi.Output<string | undefined>;
  declare readonly gateway6: pulumi.Output<string | undefined>;
  declare readonly nat: pulumi.Output<boolean>;
  declare readonly dynamicRange: pulumi.Output<string | undefined>;
  declare readonly dynamicRange6: pulumi.Output<string | undefined>;
  declare readonly isolated: pulumi.Output<boolean>;
  declare readonly prefixLength: pulumi.Output<number>;
  /** "up", "down" or "missing", as the kernel shows the bridge. */
  declare readonly status: pulumi.Output<"up" | "down" | "missing">;

  /**
   * For a container's networks: derived from the inputs (known during preview, so a container's
   * static address is checked against the subnet before anything exists) and carrying a
   * dependency on this network.
   */
  readonly ref: pulumi.Output<NetworkRef>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.CustomResourceOptions) {
    const h = hostInput(args.host, opts);
    const netName = args.name ?? name;
    const restore = quietStacks();
    try {
      super(
        ...ksliceArgs(
          "network",
          name,
          // every output named, so that those left to defaults (gateway, bridge) still come back
          {
            nat: undefined,
            isolated: undefined,
            gateway: undefined,
            bridge: undefined,
            subnet6: undefined,
            gateway6: undefined,
            ...args,
            host: h.host,
            name: netName,
            prefixLength: undefined,
            status: undefined,
            owner: ownerInput(name, "Network", opts),
          },
          { ...h.opts, additionalSecretOutputs: [...(h.opts.additionalSecretOutputs ?? []), ...networkKind.secret] },
          "Network",
        ),
      );
    } finally {
      restore();
    }
    this.ref = pulumi
      .all([this.urn, netName, args.subnet, args.gateway, args.bridge, h.host, args.subnet6, args.gateway6])
      .apply(([, n, subnet, gateway, bridge, host, subnet6, gateway6]) => ({
        name: n,
        subnet,
        gateway: gateway ?? defaultGateway(subnet),
        bridge: bridge ?? defaultBridge((host as HostRef).prefix ?? "kslice", n),
        ...(subnet6 ? { subnet6, gateway6: gateway6 ?? defaultGateway6(subnet6) } : {}),
      }));
  }
}
