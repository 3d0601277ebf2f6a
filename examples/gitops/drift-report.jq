# Turns `pulumi preview --refresh --json` into one tab-separated row per difference between the
# host and the repository: resource, step, property, value on the host, value in the repository,
# and where it changed since the last deployment. With --refresh, a step's oldState.outputs are
# what the kernel reports now (kslice keeps the inputs inside the outputs), oldState.inputs what
# the last `up` recorded, newState.inputs what the program declares.
def unknown: "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
def show: if . == null then "-" elif . == unknown then "(known after up)" elif type == "string" then . else tojson end;
def at($p): try getpath($p) catch null;
# secrets show as "[secret]" in the preview (the Host's connection inside each resource): not compared
def hidden($p): [range(0; ($p | length) + 1) as $i | at($p[:$i])] | any(. == "[secret]");
def resource: (.urn | split("::")) as $u | ($u[2] | split("$") | last | split(":") | last) + " " + $u[3];

.steps[]
| select(.op | IN("update", "replace", "create", "delete"))
| resource as $res
| if .op == "create" then [$res, .op, "(resource)", "absent", "declared", "-"]
  elif .op == "delete" then [$res, .op, "(resource)", "present", "not declared", "-"]
  else
    (.oldState.inputs // {} | del(.__provider)) as $recorded
    | (.oldState.outputs // {}) as $kernel
    | (.newState.inputs // {} | del(.__provider)) as $declared
    | .op as $op
    | ([[$recorded, $declared][] | [paths(scalars)]] | add | unique) as $paths
    | [ $paths[] as $p
        | select(($kernel | hidden($p) | not) and ($declared | hidden($p) | not))
        | select(($kernel | at($p)) != ($declared | at($p)))
        | (($kernel | at($p)) != ($recorded | at($p))) as $onHost
        | (($declared | at($p)) != ($recorded | at($p))) as $inRepo
        | [$res, $op, ($p | map(tostring) | join(".")), ($kernel | at($p) | show), ($declared | at($p) | show),
           (if $onHost and $inRepo then "host and repository" elif $onHost then "on the host" elif $inRepo then "in the repository" else "-" end)]
      ] as $rows
    # a difference no input shows (an init that died, a changed security state): the kernel's status
    | if ($rows | length) > 0 then $rows[]
      else [$res, $op, "(state)", ("status " + ($kernel.status // "?" | show) + (if ($kernel.securityDrift // []) != [] then ", security " + ($kernel.securityDrift | join(",")) else "" end)), "as declared", "on the host"]
      end
  end
| @tsv
