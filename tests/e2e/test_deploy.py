"""The deployment files, checked offline: what an operator would otherwise only learn by deploying.

Containers and Kubernetes cannot run on these machines, so everything around them is tested instead:
- deploy/k8s/*.yaml: every object validates against the schema of its kind, generated from Debian's
  python3-kubernetes (the API models built from Kubernetes' OpenAPI document: every field, its type, the
  required ones; unknown fields are errors), proven on broken manifests first; then what the manifests must
  promise: probes on /livez and /readyz (routes the binary serves), a non-root read-only container with no
  capability, resources, selectors that select, the keys from a Secret at the --keys directory, every `serve`
  option one the binary knows, a NetworkPolicy that lets in only the HTTP and management ports and out only
  PostgreSQL and DNS; probes on the management port (--admin-listen) and a Prometheus scrape annotation;
- deploy/container/Dockerfile (no hadolint in Debian): multi-stage on Debian bookworm, a non-root USER, a
  HEALTHCHECK on the management port's /livez, no secret in any layer, no -dev package or compiler in the runtime stage; its build
  stage is replayed on a context built from .dockerignore's rules (its cmake commands, verbatim), the installed
  tree is checked (binary, migrations that `authsvc migrate` finds relative to the binary, against a real
  database), and every shared library the binary needs comes from a package the runtime stage installs;
- deploy/authsvc.service: `systemd-analyze verify`, and `systemd-analyze security` exposure 2.0 at most;
- deploy/local-cluster's configuration: `haproxy -c`, and `patroni --validate-config` with only the warnings
  that loopback addresses cause.
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import jsonschema
    import yaml
    import kubernetes.client
except ImportError as e:  # Debian's python3-jsonschema, python3-yaml, python3-kubernetes (deploy/install-deps --test)
    sys.exit(f"test_deploy: {e}: install Debian's python3-jsonschema, python3-yaml and python3-kubernetes")

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S_DIR = os.path.join(ROOT, "deploy", "k8s")
DOCKERFILE = os.path.join(ROOT, "deploy", "container", "Dockerfile")
DOCKERIGNORE = os.path.join(ROOT, ".dockerignore")
UNIT = os.path.join(ROOT, "deploy", "authsvc.service")
LOCAL_CLUSTER = os.path.join(ROOT, "deploy", "local-cluster")
OPERATIONS_GUIDE = os.path.join(ROOT, "docs", "operations.md")

HTTP_PORT = 8080
ADMIN_PORT = 8081  # --admin-listen: the probes and /metrics
KEYS_DIR = "/etc/authsvc/keys"

# kind -> (apiVersion, python3-kubernetes model) of every kind the manifests may use
KINDS = {
    "Deployment": ("apps/v1", "V1Deployment"),
    "Service": ("v1", "V1Service"),
    "PodDisruptionBudget": ("policy/v1", "V1PodDisruptionBudget"),
    "Job": ("batch/v1", "V1Job"),
    "ConfigMap": ("v1", "V1ConfigMap"),
    "Secret": ("v1", "V1Secret"),
    "NetworkPolicy": ("networking.k8s.io/v1", "V1NetworkPolicy"),
    "ServiceAccount": ("v1", "V1ServiceAccount"),
}


# ---------------------------------------------------------------------------------------------------------
# Kubernetes schemas from python3-kubernetes' models


class ModelSchemas:
    """JSON Schemas (2020-12) of the Kubernetes API objects, from python3-kubernetes' generated models.

    Each model class knows its fields (attribute_map: python name -> JSON name) and their types (openapi_types);
    its constructor refuses None for a required field, which is how the required fields are found."""

    PRIMITIVES = {"str": {"type": "string"}, "int": {"type": "integer"}, "bool": {"type": "boolean"},
                  "float": {"type": "number"}, "object": {}, "datetime": {"type": "string"}, "date": {"type": "string"}}

    def __init__(self):
        self.defs = {}

    def type_schema(self, type_name):
        if type_name in self.PRIMITIVES:
            return dict(self.PRIMITIVES[type_name])
        match = re.fullmatch(r"list\[(.+)\]", type_name)
        if match:
            return {"type": "array", "items": self.type_schema(match.group(1))}
        match = re.fullmatch(r"dict\(str, (.+)\)", type_name)
        if match:
            return {"type": "object", "additionalProperties": self.type_schema(match.group(1))}
        return self.model_ref(type_name)

    def model_ref(self, name):
        if name not in self.defs:
            self.defs[name] = None  # recursion guard: references to a model being built are fine
            cls = getattr(kubernetes.client, name)
            properties = {cls.attribute_map[attr]: self.type_schema(t) for attr, t in cls.openapi_types.items()}
            schema = {"type": "object", "properties": properties, "additionalProperties": False}
            required = self.required(cls)
            if required:
                schema["required"] = sorted(cls.attribute_map[attr] for attr in required)
            self.defs[name] = schema
        return {"$ref": f"#/$defs/{name}"}

    @staticmethod
    def dummy(type_name):
        if type_name.startswith("list["):
            return []
        if type_name.startswith("dict("):
            return {}
        return {"str": "x", "int": 1, "bool": True, "float": 1.0}.get(type_name, object())

    def required(self, cls):
        """The attributes the model's constructor refuses to leave None."""
        kwargs, required = {}, []
        for _ in range(len(cls.openapi_types) + 1):
            try:
                cls(**kwargs)
                return required
            except ValueError as e:
                match = re.search(r"Invalid value for `(\w+)`", str(e))
                if match is None or match.group(1) not in cls.openapi_types:
                    raise
                attr = match.group(1)
                allowed = re.search(r"must be one of \[(.*)\]", str(e))
                if attr in kwargs and allowed:  # an enum: take its first value
                    kwargs[attr] = allowed.group(1).split(",")[0].strip().strip("'\"")
                    continue
                if attr in kwargs:
                    raise
                required.append(attr)
                kwargs[attr] = self.dummy(cls.openapi_types[attr])
        raise AssertionError(f"cannot find the required fields of {cls.__name__}")

    def validator(self, kind):
        api_version, model = KINDS[kind]
        ref = self.model_ref(model)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": self.defs,
                  "allOf": [ref, {"properties": {"apiVersion": {"const": api_version}, "kind": {"const": kind}},
                                  "required": ["apiVersion", "kind", "metadata"]}]}
        return jsonschema.Draft202012Validator(schema)


SCHEMAS = ModelSchemas()


def schema_errors(document):
    kind = document.get("kind") if isinstance(document, dict) else None
    if kind not in KINDS:
        return [f"kind {kind!r} is none of {sorted(KINDS)}"]
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                  for e in SCHEMAS.validator(kind).iter_errors(document))


def load_manifests():
    """[(file name, document)] of every YAML document under deploy/k8s/."""
    documents = []
    for path in sorted(glob.glob(os.path.join(K8S_DIR, "*.yaml"))):
        with open(path) as f:
            for document in yaml.safe_load_all(f):
                if document is not None:
                    documents.append((os.path.basename(path), document))
    return documents


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def serve_options():
    """The options `authsvc serve --help` lists."""
    result = harness.run([harness.authsvc_bin(), "serve", "--help"], check=False)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", result.stdout + result.stderr))


def server_paths():
    result = harness.run([harness.authsvc_bin(), "routes"])
    return {line.split()[1] for line in result.stdout.splitlines() if line.strip()}


class KubernetesSchemaTests(unittest.TestCase):
    def test_the_schemas_catch_mistakes(self):
        """A wrong field name, a wrong type, a missing required field: each is an error, so a pass means something."""
        good = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                "spec": {"selector": {"matchLabels": {"a": "b"}},
                         "template": {"metadata": {"labels": {"a": "b"}},
                                      "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
        self.assertEqual(schema_errors(good), [])
        cases = {
            "misspelled field": ("spec", lambda d: d["spec"].update(replica=3)),
            "wrong type": ("spec/replicas", lambda d: d["spec"].update(replicas="three")),
            "missing required field": ("spec/template/spec/containers/0",
                                       lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name")),
            "missing containers": ("spec/template/spec", lambda d: d["spec"]["template"]["spec"].pop("containers")),
            "unknown field in a probe": ("spec/template/spec/containers/0/livenessProbe",
                                         lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                                             livenessProbe={"httpGet": {"path": "/livez", "port": 1}, "period": 3})),
            "wrong apiVersion": ("apiVersion", lambda d: d.update(apiVersion="extensions/v1beta1")),
        }
        for label, (where, breaks) in cases.items():
            with self.subTest(label):
                broken = yaml.safe_load(yaml.safe_dump(good))
                breaks(broken)
                errors = schema_errors(broken)
                self.assertTrue(errors, f"{label}: the schema accepted it")
                self.assertTrue(any(e.startswith(where) for e in errors), errors)

    def test_every_manifest_validates(self):
        documents = load_manifests()
        self.assertGreaterEqual({d["kind"] for _, d in documents},
                                {"Deployment", "Service", "PodDisruptionBudget", "Job", "NetworkPolicy", "ConfigMap"})
        for name, document in documents:
            with self.subTest(file=name, kind=document.get("kind")):
                self.assertEqual(schema_errors(document), [])


class KubernetesManifestTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.documents = load_manifests()
        cls.by_kind = {}
        for _, document in cls.documents:
            cls.by_kind.setdefault(document["kind"], []).append(document)
        (cls.deployment,) = cls.by_kind["Deployment"]
        (cls.job,) = cls.by_kind["Job"]
        cls.pod = cls.deployment["spec"]["template"]
        (cls.container,) = cls.pod["spec"]["containers"]

    def workloads(self):
        """(name, pod template) of the Deployment and the Job."""
        return [("Deployment", self.pod), ("Job", self.job["spec"]["template"])]

    def test_probes(self):
        paths = server_paths()
        port_names = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(port_names.get("http"), HTTP_PORT)
        self.assertEqual(port_names.get("admin"), ADMIN_PORT)
        self.assertIn(f"0.0.0.0:{ADMIN_PORT}", self.container["args"][self.container["args"].index("--admin-listen") + 1])
        annotations = self.pod["metadata"].get("annotations", {})
        self.assertEqual((annotations.get("prometheus.io/scrape"), annotations.get("prometheus.io/port"),
                          annotations.get("prometheus.io/path")), ("true", str(ADMIN_PORT), "/metrics"))
        for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/livez")):
            with self.subTest(probe=probe):
                get = self.container[probe]["httpGet"]
                self.assertEqual(get["path"], path)
                self.assertIn(path, paths, "the binary does not route it")
                self.assertIn(get["port"], ("admin", ADMIN_PORT))
        # /readyz answers within 1 s: a probe timeout below that would mark a healthy pod unready
        self.assertGreaterEqual(self.container["readinessProbe"]["timeoutSeconds"], 2)

    def test_security_context(self):
        for name, template in self.workloads():
            spec = template["spec"]
            pod_context = spec["securityContext"]
            with self.subTest(workload=name):
                self.assertIs(pod_context.get("runAsNonRoot"), True)
                self.assertNotEqual(pod_context.get("runAsUser"), 0)
                self.assertEqual(pod_context.get("seccompProfile", {}).get("type"), "RuntimeDefault")
                self.assertIs(spec.get("automountServiceAccountToken"), False)
            for container in spec.get("initContainers", []) + spec["containers"]:
                with self.subTest(workload=name, container=container["name"]):
                    context = container["securityContext"]
                    self.assertIs(context.get("readOnlyRootFilesystem"), True)
                    self.assertIs(context.get("allowPrivilegeEscalation"), False)
                    self.assertEqual(context.get("capabilities", {}).get("drop"), ["ALL"])
                    self.assertNotIn("add", context.get("capabilities", {}))
                    self.assertNotIn("privileged", context)
                    resources = container["resources"]
                    for section in ("requests", "limits"):
                        self.assertLessEqual({"cpu", "memory"}, set(resources.get(section, {})), section)

    def test_the_image_and_its_user(self):
        dockerfile = Dockerfile(DOCKERFILE)
        uid = int(dockerfile.final_user().split(":")[0])
        images = set()
        for name, template in self.workloads():
            self.assertEqual(template["spec"]["securityContext"]["runAsUser"], uid, "the image's USER")
            for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
                images.add(container["image"])
        version = re.search(r"project\(authsvc VERSION ([0-9.]+)", open(os.path.join(ROOT, "CMakeLists.txt")).read())
        self.assertEqual(images, {f"authsvc:{version.group(1)}"}, "one image, tagged with the project's version")
        self.assertEqual(self.job["spec"]["template"]["spec"]["containers"][0]["args"], ["migrate"])

    def test_serve_arguments(self):
        args = self.container["args"]
        self.assertEqual(args[0], "serve")
        options = serve_options()
        for arg in args[1:]:
            if arg.startswith("--"):
                self.assertIn(arg, options, "`authsvc serve --help` does not list it")
        values = dict(zip(args[1::2], args[2::2]))
        self.assertEqual(values.get("--listen"), f"0.0.0.0:{HTTP_PORT}")
        self.assertEqual(values.get("--keys"), KEYS_DIR)
        # $(VAR) in args is expanded by Kubernetes from the container's environment: it must come from somewhere
        config = {k for d in self.by_kind["ConfigMap"] for k in d["data"]}
        env = {e["name"] for e in self.container.get("env", [])}
        for var in re.findall(r"\$\((\w+)\)", " ".join(args)):
            self.assertIn(var, config | env)
        self.assertEqual({ref["configMapRef"]["name"] for ref in self.container["envFrom"]},
                         {d["metadata"]["name"] for d in self.by_kind["ConfigMap"]})

    def test_keys_come_from_a_secret_at_the_keys_directory(self):
        spec = self.pod["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in self.container["volumeMounts"]}
        self.assertIn(KEYS_DIR, mounts)
        self.assertIs(mounts[KEYS_DIR].get("readOnly"), True)
        keys_volume = volumes[mounts[KEYS_DIR]["name"]]
        if "secret" not in keys_volume:
            # copied from the Secret by an init container (authsvc refuses group-readable private keys)
            self.assertEqual(keys_volume.get("emptyDir", {}).get("medium"), "Memory", "keys never touch a disk")
            (init,) = spec["initContainers"]
            init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
            self.assertEqual(init_mounts.get(mounts[KEYS_DIR]["name"]), KEYS_DIR)
            secret_volumes = [name for name in init_mounts if "secret" in volumes[name]]
            self.assertEqual(len(secret_volumes), 1)
            script = " ".join(init["command"])
            self.assertIn(init_mounts[secret_volumes[0]], script)
            self.assertIn("chmod 0600", script)
            keys_volume = volumes[secret_volumes[0]]
        secret = keys_volume["secret"]["secretName"]
        self.assertFalse(keys_volume["secret"].get("defaultMode", 0o644) & 0o007, "no world access to private keys")
        # no key and no password in the repository: the Secrets are created by the operator, as the guide says
        self.assertNotIn("Secret", self.by_kind)
        referenced = {secret} | {e["valueFrom"]["secretKeyRef"]["name"] for e in self.container.get("env", [])
                                 if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]}
        guide = open(OPERATIONS_GUIDE).read()
        for name in referenced:
            self.assertIn(f"kubectl create secret generic {name}", guide, "docs/operations.md shows how to create it")

    def test_selectors_select(self):
        pod_labels = self.pod["metadata"]["labels"]
        self.assertTrue(labels_match(self.deployment["spec"]["selector"], pod_labels))
        for service in self.by_kind["Service"]:
            self.assertTrue(labels_match({"matchLabels": service["spec"]["selector"]}, pod_labels))
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], ("http", HTTP_PORT))
        for pdb in self.by_kind["PodDisruptionBudget"]:
            self.assertTrue(labels_match(pdb["spec"]["selector"], pod_labels))
            self.assertLess(pdb["spec"].get("maxUnavailable", 0), self.deployment["spec"]["replicas"])
        job_labels = self.job["spec"]["template"]["metadata"]["labels"]
        self.assertFalse(labels_match(self.deployment["spec"]["selector"], job_labels),
                         "the migration Job's pod must not be taken for a server")
        for policy in self.by_kind["NetworkPolicy"]:
            self.assertTrue(labels_match(policy["spec"]["podSelector"], pod_labels))
            self.assertTrue(labels_match(policy["spec"]["podSelector"], job_labels))

    def test_network_policy(self):
        (policy,) = self.by_kind["NetworkPolicy"]
        spec = policy["spec"]
        self.assertEqual(sorted(spec["policyTypes"]), ["Egress", "Ingress"])
        ingress_ports = [(p.get("protocol", "TCP"), p["port"]) for rule in spec["ingress"] for p in rule["ports"]]
        self.assertEqual(ingress_ports, [("TCP", HTTP_PORT), ("TCP", ADMIN_PORT)])
        for rule in spec["egress"]:
            self.assertTrue(rule.get("to"), "an egress rule without `to` opens its ports to the world")
            ports = {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
            self.assertIn(ports, ({("TCP", 5432)}, {("UDP", 53), ("TCP", 53)}), rule)
        self.assertEqual(len(spec["egress"]), 2)

    def test_rolling_update_keeps_capacity(self):
        strategy = self.deployment["spec"]["strategy"]
        self.assertEqual(strategy["type"], "RollingUpdate")
        self.assertEqual(strategy["rollingUpdate"]["maxUnavailable"], 0)
        self.assertGreaterEqual(self.deployment["spec"]["replicas"], 2)
        self.assertGreater(self.pod["spec"]["terminationGracePeriodSeconds"], 5)


# ---------------------------------------------------------------------------------------------------------
# The Dockerfile


class Dockerfile:
    """The instructions of a Dockerfile, stage by stage: [(INSTRUCTION, arguments)]."""

    def __init__(self, path):
        with open(path) as f:
            text = f.read()
        self.text = text
        logical, current = [], ""
        for line in text.splitlines():
            stripped = line.strip()
            if not current and (not stripped or stripped.startswith("#")):
                continue
            if current and stripped.startswith("#"):
                continue  # a comment inside a continued instruction
            if stripped.endswith("\\"):
                current += stripped[:-1] + " "
                continue
            logical.append(current + stripped)
            current = ""
        self.args = {}
        self.stages = []  # [{"from": image, "name": name or None, "instructions": [(INSTR, rest)]}]
        for instruction in logical:
            word, _, rest = instruction.partition(" ")
            word = word.upper()
            rest = rest.strip()
            if word == "FROM":
                parts = rest.split()
                image = re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m.group(1), m.group(0)), parts[0])
                name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
                self.stages.append({"from": image, "name": name, "instructions": []})
            elif not self.stages:
                if word == "ARG" and "=" in rest:
                    key, _, value = rest.partition("=")
                    self.args[key] = value
            else:
                self.stages[-1]["instructions"].append((word, rest))

    def final(self):
        return self.stages[-1]

    def of(self, stage, word):
        return [rest for w, rest in stage["instructions"] if w == word]

    def final_user(self):
        users = self.of(self.final(), "USER")
        if not users:
            raise AssertionError("the runtime stage has no USER: it would run as root")
        return users[-1]


def apt_packages(run):
    """The packages of the `apt-get install` in one RUN instruction."""
    match = re.search(r"apt-get install ([^&;|]*)", run)
    if not match:
        return []
    return [word for word in match.group(1).split() if not word.startswith("-")]


class DockerIgnore:
    """.dockerignore as Docker reads it: patterns in order, `!` re-includes, the last match wins."""

    def __init__(self, path):
        self.rules = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pattern = line[1:] if negate else line
                self.rules.append((negate, pattern.strip("/")))

    @staticmethod
    def _matches(pattern, path):
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] in "*?":
                regex, i = regex + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        # a pattern that matches a directory covers everything under it
        return re.fullmatch(regex + "(?:/.*)?", path) is not None

    def excluded(self, path):
        excluded = False
        for negate, pattern in self.rules:
            if self._matches(pattern, path):
                excluded = not negate
        return excluded


def context_files(ignore):
    """The files `docker build .` would send: every file of the work tree that .dockerignore lets through."""
    files = []
    for directory, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            rel = os.path.relpath(os.path.join(directory, name), ROOT)
            if not ignore.excluded(rel):
                files.append(rel)
    return sorted(files)


class DockerfileTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dockerfile = Dockerfile(DOCKERFILE)
        cls.ignore = DockerIgnore(DOCKERIGNORE)

    def test_multi_stage_on_debian_bookworm(self):
        stages = self.dockerfile.stages
        self.assertGreaterEqual(len(stages), 2)
        for stage in stages:
            self.assertRegex(stage["from"], r"^debian:bookworm(-slim)?$")
        build_names = {s["name"] for s in stages[:-1]}
        copies_from = [re.search(r"--from=(\S+)", c).group(1) for c in self.dockerfile.of(self.dockerfile.final(), "COPY")
                       if "--from=" in c]
        self.assertTrue(copies_from, "the runtime stage copies the build stage's output")
        self.assertLessEqual(set(copies_from), build_names)

    def test_runtime_stage(self):
        final = self.dockerfile.final()
        user = self.dockerfile.final_user()
        uid = user.split(":")[0]
        self.assertRegex(uid, r"^[0-9]+$", "a numeric USER, so that Kubernetes can check runAsNonRoot")
        self.assertNotEqual(int(uid), 0)
        # nothing after USER switches back
        words = [w for w, _ in final["instructions"]]
        self.assertNotIn("RUN", words[words.index("USER"):], "a RUN after USER")
        self.assertEqual(self.dockerfile.of(final, "EXPOSE"), [f"{HTTP_PORT} {ADMIN_PORT}"])
        (healthcheck,) = self.dockerfile.of(final, "HEALTHCHECK")
        self.assertIn(f"http://127.0.0.1:{ADMIN_PORT}/livez", healthcheck)
        self.assertIn("--timeout", healthcheck)
        self.assertEqual(self.dockerfile.of(final, "ENTRYPOINT"), ['["authsvc"]'])
        (cmd,) = self.dockerfile.of(final, "CMD")
        self.assertIn(KEYS_DIR, cmd)
        for run in self.dockerfile.of(final, "RUN"):
            for package in apt_packages(run):
                self.assertFalse(package.endswith("-dev") or package in ("build-essential", "gcc", "cmake", "make",
                                                                            "pkg-config"),
                                 f"build tool {package} in the runtime stage")

    def test_apt_lists_do_not_stay_in_a_layer(self):
        for stage in self.dockerfile.stages:
            for run in self.dockerfile.of(stage, "RUN"):
                if "apt-get install" in run:
                    self.assertIn("rm -rf /var/lib/apt/lists", run)
                    self.assertIn("--no-install-recommends", run)

    def test_no_secret_in_any_layer(self):
        secretish = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PGPASS|PRIVATE|_KEY\b|CREDENTIAL)", re.I)
        for stage in self.dockerfile.stages:
            for word, rest in stage["instructions"]:
                if word in ("ENV", "ARG", "LABEL"):
                    self.assertNotRegex(rest, secretish, f"{word} {rest}")
                if word == "ADD":
                    self.fail(f"ADD {rest}: use COPY (ADD fetches URLs and unpacks archives)")
                if word == "COPY" and "--from=" not in rest:
                    for source in shlex.split(rest)[:-1]:
                        self.assertNotRegex(source, r"(keys|\.local|\.pem|\.key|secret|password)", source)
        for path in ("keys/0123.pem", "keys/refresh.key", "keys/x.json", ".local/demo-service.secret",
                     ".local/cluster/secrets/pgpass", "build/authsvc", ".git/config", "tests/e2e/test_deploy.py",
                     "authsvc/ops/x.pem", "authsvc/ops/dev.key"):
            with self.subTest(path=path):
                self.assertTrue(self.ignore.excluded(path), f".dockerignore lets {path} into the build context")

    def test_build_context_holds_what_the_build_stage_copies(self):
        files = context_files(self.ignore)
        for stage in self.dockerfile.stages[:-1]:
            for copy in self.dockerfile.of(stage, "COPY"):
                for source in shlex.split(copy)[:-1]:
                    if source.startswith("--"):
                        continue
                    source = source.rstrip("/")
                    with self.subTest(source=source):
                        self.assertTrue(any(f == source or f.startswith(source + "/") for f in files),
                                        f"COPY {source}: not in the build context (.dockerignore)")

    def test_build_stage_replayed(self):
        """The build stage's cmake commands, verbatim, on a copy of the build context; then the installed tree."""
        build_stage = self.dockerfile.stages[0]
        (cmake_run,) = [r for r in self.dockerfile.of(build_stage, "RUN") if r.startswith("cmake ")]
        work = tempfile.mkdtemp(prefix="authsvc-docker-build-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        context, build, out = (os.path.join(work, d) for d in ("context", "build", "out"))
        for rel in context_files(self.ignore):
            os.makedirs(os.path.dirname(os.path.join(context, rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(context, rel))
        command = re.sub(r"(?<=[\s=])/build\b", build, cmake_run)
        command = re.sub(r"(?<=[\s=])/out\b", out, command)
        self.assertNotEqual(command, cmake_run)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=context, capture_output=True, text=True,
                                timeout=900)
        self.assertEqual(result.returncode, 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

        binary = os.path.join(out, "usr", "bin", "authsvc")
        self.assertTrue(os.access(binary, os.X_OK))
        migrations = sorted(os.listdir(os.path.join(out, "usr", "share", "authsvc", "migrations")))
        self.assertEqual(migrations, sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "migrations", "*.sql"))))
        self.assertIn("/livez", harness.run([binary, "routes"]).stdout)

        # the installed binary finds its migrations relative to itself, as it will in the image
        database = harness.Database()
        database.create()
        self.addCleanup(database.drop)
        harness.run([binary, "migrate", "--db", database.conninfo])
        self.assertEqual(database.query("SELECT count(*) FROM pg_tables WHERE tablename = 'refresh_tokens'"), "1")

        # every shared library comes from a package the runtime stage installs (or one they pull in, or the base)
        runtime = [p for run in self.dockerfile.of(self.dockerfile.final(), "RUN") for p in apt_packages(run)]
        available = self.package_closure(runtime) | self.base_packages()
        for package in self.library_packages(binary):
            with self.subTest(package=package):
                self.assertIn(package, available, f"{package} is needed by the binary but the runtime stage lacks it")

    @staticmethod
    def library_packages(binary):
        packages = set()
        for line in harness.run(["ldd", binary]).stdout.splitlines():
            match = re.search(r"=> (/\S+)", line)
            if not match:
                continue
            path = match.group(1)
            candidates = {path, os.path.realpath(path)}
            candidates |= {c.replace("/usr/lib/", "/lib/", 1) for c in list(candidates) if c.startswith("/usr/lib/")}
            candidates |= {c.replace("/lib/", "/usr/lib/", 1) for c in list(candidates) if c.startswith("/lib/")}
            found = None
            for candidate in sorted(candidates):
                result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if result.returncode == 0:
                    found = result.stdout.split(":")[0]
                    break
            if found is None:
                raise AssertionError(f"no Debian package holds {path}")
            packages.add(found)
        return packages

    @staticmethod
    def package_closure(packages):
        result = harness.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                              "--no-breaks", "--no-replaces", "--no-enhances", *packages])
        closure = set(packages)
        for line in result.stdout.splitlines():
            line = line.strip()
            if line and not line.startswith("|") and ":" not in line:
                closure.add(line)
            match = re.match(r"\|?(?:Pre)?Depends: <?([^>\s]+)>?", line)
            if match:
                closure.add(match.group(1))
        return {p.split(":")[0] for p in closure}

    @staticmethod
    def base_packages():
        """What every Debian image has: the packages of priority required."""
        result = harness.run(["dpkg-query", "-W", "-f", "${Package} ${Priority}\\n"])
        return {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" required")}


# ---------------------------------------------------------------------------------------------------------
# The systemd unit and the local cluster's configuration


class SystemdUnitTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("systemd-analyze") is None:
            raise harness.HarnessError("systemd-analyze is not installed (Debian's systemd package)")
        with open(UNIT) as f:
            cls.text = f.read()
        cls.workdir = tempfile.mkdtemp(prefix="authsvc-unit-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, ignore_errors=True)
        # systemd finds a bare `authsvc` in /usr/local/bin or /usr/bin: point it at the binary under test
        cls.copy = os.path.join(cls.workdir, "authsvc.service")
        with open(cls.copy, "w") as f:
            f.write(re.sub(r"^(ExecStart(?:Pre)?=)authsvc ", rf"\g<1>{harness.authsvc_bin()} ", cls.text, flags=re.M))

    def directives(self, name):
        return [line.split("=", 1)[1] for line in self.text.splitlines() if line.startswith(name + "=")]

    def test_systemd_analyze_verify(self):
        result = harness.run(["systemd-analyze", "verify", self.copy], check=False)
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))

    def test_exposure(self):
        result = harness.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", self.copy], check=False)
        match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
        self.assertIsNotNone(match, result.stdout + result.stderr)
        self.assertLessEqual(float(match.group(1)), 2.0, result.stdout)

    def test_what_the_unit_runs(self):
        (start,) = self.directives("ExecStart")
        (pre,) = self.directives("ExecStartPre")
        self.assertEqual(pre, "authsvc migrate", "the binary finds its migrations itself")
        argv = start.split()
        self.assertEqual(argv[:2], ["authsvc", "serve"])
        options = serve_options()
        for arg in argv[2:]:
            if arg.startswith("--"):
                self.assertIn(arg, options)
        self.assertNotIn("AUTHSVC_DB", self.text, "nothing reads it: libpq reads PG* from the EnvironmentFile")
        self.assertNotIn("/usr/local/", "".join(l for l in self.text.splitlines() if not l.startswith("#")),
                         "the installation prefix is not fixed")
        self.assertEqual(self.directives("User"), ["authsvc"])
        self.assertEqual(self.directives("EnvironmentFile"), ["/etc/authsvc/env"])
        self.assertIn(f"--keys {KEYS_DIR}", start)
        self.assertIn("--admin-listen ${AUTHSVC_ADMIN_LISTEN}", start)
        self.assertIn("Environment=AUTHSVC_ADMIN_LISTEN=127.0.0.1:", self.text, "the management port on loopback by default")


class LocalClusterConfigTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("haproxy", "patroni"):
            if shutil.which(tool) is None:
                raise harness.HarnessError(f"{tool} is not installed (deploy/install-deps --test)")
        cls.dir = tempfile.mkdtemp(prefix="authsvc-cluster-config-")
        os.chmod(cls.dir, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        result = subprocess.run([LOCAL_CLUSTER, "render"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "AUTHSVC_CLUSTER_DIR": os.path.join(cls.dir, "c"),
                                     "AUTHSVC_CLUSTER_BASE": "29700"})
        if result.returncode != 0:
            raise harness.HarnessError("deploy/local-cluster render failed\n" + harness.describe_process(result))
        cls.config = os.path.join(cls.dir, "c")

    def test_haproxy_accepts_its_configuration(self):
        path = os.path.join(self.config, "haproxy.cfg")
        result = harness.run(["haproxy", "-c", "-f", path], check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        text = open(path).read()
        self.assertIn("option httpchk GET /readyz", text)
        self.assertIn("option httpchk GET /primary", text)
        self.assertIn("alpn h2,http/1.1", text)
        self.assertIn("on-marked-down shutdown-sessions", text)

    def test_patroni_accepts_its_configuration(self):
        # what --validate-config warns about here: loopback addresses, ports that happen to be taken, and an etcd
        # that is not running (nothing runs during this test)
        harmless = (r'must not contain "127\.0\.0\.1"', r"is already in use", r"bootstrap\.pg_hba\s+is not defined",
                    r"^etcd3\.hosts 127\.0\.0\.1:\d+ didn't pass validation: '127\.0\.0\.1:\d+ is not reachable'$")
        for node in ("pg1", "pg2"):
            with self.subTest(node=node):
                path = os.path.join(self.config, f"patroni-{node}.yml")
                result = harness.run(["patroni", "--validate-config", path], check=False)
                problems = [line for line in (result.stdout + result.stderr).splitlines()
                            if line.strip() and not any(re.search(h, line) for h in harmless)]
                self.assertEqual(problems, [])
                with open(path) as f:
                    config = yaml.safe_load(f)
                dcs = config["bootstrap"]["dcs"]
                self.assertIs(dcs["synchronous_mode"], True)
                self.assertIs(dcs["synchronous_mode_strict"], False)
                self.assertEqual(dcs["primary_start_timeout"], 0)
                self.assertEqual(oct(os.stat(path).st_mode & 0o777), oct(0o640), "it holds passwords")


if __name__ == "__main__":
    harness.main()
