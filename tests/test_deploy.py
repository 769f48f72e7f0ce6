"""The deployment files agree with the code: env names and values, images, paths, vLLM flags, chat template, client.

Docker and a cluster are not available to the tests; what can be checked without them is checked here: every
SENTINELLE_* value the compose file and the manifests set is validated by the real `Settings`, the container
command line is parsed by the real CLI, the vLLM chat template is rendered the way transformers renders it, and the
app's OpenAI-compatible client talks to a scripted vLLM-like server on loopback.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from assistant.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
TEMPLATE = BASE / "qwen2_5_vl_tools.jinja"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def substitute(value: str) -> str:
    """Compose-style `${VAR:-default}` with the environment empty: what a bare `docker compose up` runs."""
    return _VAR.sub(lambda m: m.group(2) or "", value)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def k8s_docs(folder: Path) -> list[dict]:
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text())
                 if isinstance(d, dict) and "metadata" in d]  # objects, not JSON patches or kustomizations
    return docs


def app_env_file() -> dict[str, str]:
    lines = (BASE / "app.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def sentinelle_envs() -> dict[str, dict[str, str | None]]:
    """Every place that sets SENTINELLE_* variables, with the values it sets (None = passed through)."""
    out: dict[str, dict[str, str | None]] = {}
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        out[f"compose:{name}"] = {k: (None if v is None else substitute(str(v))) for k, v in env.items()}
    out["k8s:app.env"] = app_env_file()
    for doc in k8s_docs(BASE):
        for container in (doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []):
            for item in container.get("env") or []:
                out.setdefault(f"k8s:{doc['metadata']['name']}", {})[item["name"]] = item.get("value")
    return out


# --- files parse; env names and values are the config module's -------------------------------------


def test_compose_parses_with_both_profiles():
    services = compose()["services"]
    profiles = {name: set(s.get("profiles", [])) for name, s in services.items()}
    assert {"vllm", "chroma", "app"} <= {n for n, p in profiles.items() if "gpu" in p}
    cpu = [n for n, p in profiles.items() if "cpu" in p]
    assert cpu == ["app-cpu"], "the GPU-less profile is the app alone, on its embedded defaults"
    assert services["app"]["depends_on"]["vllm"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["chroma"]["condition"] == "service_healthy"
    for name in ("vllm", "chroma", "app", "app-cpu"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]


@pytest.mark.parametrize("where", sorted(sentinelle_envs()))
def test_every_sentinelle_env_is_a_settings_field_with_a_valid_value(where, monkeypatch):
    env = sentinelle_envs()[where]
    fields = {name.upper() for name in Settings.model_fields}
    names = {k for k in env if k.startswith("SENTINELLE_")}
    unknown = {k for k in names if k.removeprefix("SENTINELLE_") not in fields}
    assert not unknown, f"{where} sets variables that assistant/config.py does not read: {sorted(unknown)}"
    for key in list(os.environ):
        if key.startswith("SENTINELLE_"):
            monkeypatch.delenv(key)
    for key in names:
        if env[key] is not None:
            monkeypatch.setenv(key, env[key])
    settings = Settings(_env_file=None)  # raises on a bad Literal, int or bool
    for key in names:
        if env[key] not in (None, ""):
            value = getattr(settings, key.removeprefix("SENTINELLE_").lower())
            assert value is not None


def test_gpu_app_points_at_the_vllm_and_chroma_services():
    services = compose()["services"]
    env = {k: substitute(str(v)) for k, v in services["app"]["environment"].items() if v is not None}
    s = Settings(**{k.removeprefix("SENTINELLE_").lower(): v for k, v in env.items()})
    assert s.llm_backend == "openai" and s.vlm_backend == "openai"
    assert s.llm_base_url.startswith("http://vllm:8000/") and s.vlm_url.startswith("http://vllm:8000/")
    assert s.chroma_url == "http://chroma:8000"
    served = _flag(_compose_vllm_args(), "--served-model-name")
    assert s.llm_model == served and s.vlm_model == served
    cpu_env = {k: v for k, v in services["app-cpu"]["environment"].items() if v is not None}
    assert "SENTINELLE_CHROMA_URL" not in cpu_env and cpu_env.get("SENTINELLE_LLM_BACKEND") != "openai"
    k8s = app_env_file()
    assert k8s["SENTINELLE_LLM_BASE_URL"].startswith("http://vllm:8000/")
    assert k8s["SENTINELLE_CHROMA_URL"] == "http://chroma:8000"
    assert k8s["SENTINELLE_LLM_MODEL"] == served


def test_env_example_documents_every_compose_variable():
    text = (DEPLOY / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.M))
    used = {name for name, _default in _VAR.findall(COMPOSE.read_text())}
    assert used and used <= documented, f"not in deploy/.env.example: {sorted(used - documented)}"
    fields = {name.upper() for name in Settings.model_fields}
    assert {n for n in documented if n.startswith("SENTINELLE_")} <= {f"SENTINELLE_{f}" for f in fields}


def test_compose_file_follows_the_compose_specification():
    compose_spec = pytest.importorskip("compose_spec")
    data = yaml.safe_load(substitute(COMPOSE.read_text()))  # PyYAML resolves the `<<` merge keys
    spec = compose_spec.PyCompose.from_json(json.dumps(data))  # raises ValueError on anything off-spec
    spec.validate()
    assert sorted(spec.service_names()) == ["app", "app-cpu", "chroma", "vllm"]
    declared = set(data["volumes"])
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith((".", "/")) or source in declared, f"{name}: volume {source} is not declared"


K8S_VERSION = "1.33"


def _rendered_or_raw(overlay: Path) -> list[dict]:
    """The overlay rendered by kubectl when available; else the complete objects it is built from."""
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    extra = yaml.safe_load((overlay / "kustomization.yaml").read_text())["resources"]
    added = [d for r in extra if r.endswith(".yaml") for d in yaml.safe_load_all((overlay / r).read_text())]
    return k8s_docs(BASE) + added


@pytest.mark.parametrize("overlay", [p.name for p in OVERLAYS])
def test_manifests_follow_the_kubernetes_schemas(overlay):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = _rendered_or_raw(K8S / "overlays" / overlay)
    assert len(docs) >= 13
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {str(exc).splitlines()[0]}")


# --- images pinned, one version everywhere ---------------------------------------------------------


def _all_images() -> dict[str, str]:
    images = {f"compose:{n}": s["image"] for n, s in compose()["services"].items() if "image" in s}
    for folder in [BASE, *OVERLAYS]:
        for doc in k8s_docs(folder):
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                images[f"k8s:{doc['metadata']['name']}/{c['name']}"] = c["image"]
    kust = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    for entry in kust.get("images", []):
        images[f"kustomize:{entry['name']}"] = f"{entry['name']}:{entry['newTag']}"
    return images


def test_images_are_pinned_and_agree():
    images = _all_images()
    assert len(images) >= 8
    by_repo: dict[str, set[str]] = {}
    for where, ref in images.items():
        repo, _, tag = ref.rpartition(":")
        assert repo and tag and "/" not in tag, f"{where}: image '{ref}' has no tag"
        assert tag != "latest", f"{where}: image '{ref}' is not pinned"
        by_repo.setdefault(repo, set()).add(tag)
    assert {r: t for r, t in by_repo.items() if len(t) > 1} == {}, "compose and k8s use different versions"


def test_chroma_server_matches_the_client_version():
    installed = importlib.metadata.version("chromadb")
    pinned = re.search(r'"chromadb==([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    tag = compose()["services"]["chroma"]["image"].rpartition(":")[2]
    assert tag == pinned == installed


# --- paths the deployment needs exist ----------------------------------------------------------------


def test_dockerfile_copies_existing_paths_and_runs_the_cli():
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("FROM python:3.11-slim") == 2
    assert "download.pytorch.org/whl/cpu torch==2.13.0" in text
    copies = re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M)
    sources = [s for line in copies for s in line.split()[:-1]]
    assert "pyproject.toml" in sources
    for src in sources:
        assert (ROOT / src).exists(), f"deploy/Dockerfile copies {src}, which is not in the repository"
        assert not _docker_ignored(src), f"{src} is excluded by .dockerignore"
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, flags=re.M).group(1))
    assert cmd[:2] == ["sentinelle", "serve"]
    _parse_cli(cmd[1:])
    scripts = re.search(r"\[project\.scripts\]\s*\n(.*?)\n\n", (ROOT / "pyproject.toml").read_text(), re.S).group(1)
    assert 'sentinelle = "assistant.cli:main"' in scripts


def _docker_ignored(src: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()]
    return any(p and not p.startswith("#") and (src == p or src.startswith(p.rstrip("/") + "/")) for p in patterns)


def _parse_cli(argv: list[str]) -> None:
    """The container's command line, parsed by the real `sentinelle` parser."""
    from assistant import cli

    args = cli.build_parser().parse_args(argv)
    assert args.command == argv[0]


def test_compose_build_and_mounts_point_at_existing_files():
    services = compose()["services"]
    build = services["app"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = substitute(volume).split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"


def test_k8s_app_command_parses_and_kustomize_inputs_exist():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs(BASE)}
    app = docs[("Deployment", "sentinelle-app")]["spec"]["template"]["spec"]["containers"][0]
    _parse_cli(app["args"][1:])
    kust = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (BASE / res).exists()
    for gen in kust["configMapGenerator"]:
        for f in gen.get("files", []) + gen.get("envs", []):
            assert (BASE / f).exists()
    for overlay in OVERLAYS:
        k = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        for res in k["resources"]:
            assert (overlay / res).exists(), f"{overlay.name}: {res}"
        for patch in k.get("patches", []):
            assert (overlay / patch["path"]).exists()


def test_k8s_probes_gpu_and_storage():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs(BASE)}
    vllm = docs[("Deployment", "vllm")]["spec"]["template"]["spec"]["containers"][0]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
    mounts = {m["name"] for m in vllm["volumeMounts"]}
    assert {"model-cache", "chat-template", "shm"} <= mounts
    chroma = docs[("StatefulSet", "chroma")]["spec"]
    assert chroma["volumeClaimTemplates"][0]["metadata"]["name"] == "chroma-data"
    assert chroma["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/api/v2/heartbeat"
    app = docs[("Deployment", "sentinelle-app")]["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "sentinelle-secrets"}} in app["envFrom"]
    ingress = docs[("Ingress", "sentinelle")]["spec"]
    assert ingress["tls"][0]["secretName"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("overlay", [p.name for p in OVERLAYS])
def test_kustomize_renders_each_overlay(overlay):
    out = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = {(d["kind"], d["metadata"]["name"].rsplit("-", 1)[0] if d["kind"] == "ConfigMap" else d["metadata"]["name"])
             for d in docs}
    assert {("Deployment", "sentinelle-app"), ("Deployment", "vllm"), ("StatefulSet", "chroma"),
            ("ConfigMap", "sentinelle-config"), ("ConfigMap", "vllm-chat-template")} <= kinds
    assert all(d["metadata"].get("namespace") == "sentinelle" for d in docs if d["kind"] != "Namespace")
    # generated ConfigMap names (with their hash suffix) are the ones the pods reference
    names = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec", {})
        refs = [e["configMapRef"]["name"] for c in pod.get("containers", []) for e in c.get("envFrom", [])
                if "configMapRef" in e]
        refs += [v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v]
        assert set(refs) <= names


# --- vLLM flags: one truth in compose and k8s ----------------------------------------------------------


def _compose_vllm_args() -> list[str]:
    return [substitute(str(a)) for a in compose()["services"]["vllm"]["command"]]


def _k8s_vllm_args() -> list[str]:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs(BASE)}
    return docs[("Deployment", "vllm")]["spec"]["template"]["spec"]["containers"][0]["args"]


def _flag(args: list[str], name: str) -> str | None:
    for arg in args:
        if arg == name:
            return ""
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_vllm_flags_for_qwen25_vl_tool_calling():
    compose_args, k8s_args = _compose_vllm_args(), _k8s_vllm_args()
    skip_tp = [a for a in compose_args if not a.startswith("--tensor-parallel-size")]
    assert skip_tp == k8s_args, "compose and k8s start vLLM differently"
    args = compose_args
    assert args[0] == "Qwen/Qwen2.5-VL-7B-Instruct" == Settings.model_fields["llm_model"].default
    assert _flag(args, "--enable-auto-tool-choice") == ""
    assert _flag(args, "--tool-call-parser") == "hermes"
    assert _flag(args, "--chat-template") == "/templates/" + TEMPLATE.name
    assert _flag(args, "--chat-template-content-format") == "openai"
    limits = json.loads(_flag(args, "--limit-mm-per-prompt"))
    assert limits["image"] >= 1 and limits["video"] == 0
    max_pixels = json.loads(_flag(args, "--mm-processor-kwargs"))["max_pixels"]
    assert max_pixels == int(app_env_file()["SENTINELLE_VLM_MAX_PIXELS"]) <= Settings.model_fields[
        "vlm_max_pixels"].default
    assert int(_flag(args, "--max-model-len")) >= 8192
    image_tokens = max_pixels // (28 * 28)  # Qwen2.5-VL: one token per 28x28 patch after merging
    assert limits["image"] * image_tokens < int(_flag(args, "--max-model-len")) // 2


# --- the chat template vLLM is given -------------------------------------------------------------------

TOOLS = [
    {"type": "function", "function": {"name": "locate_place", "description": "Find a place on the map.",
                                      "parameters": {"type": "object", "properties": {"place": {"type": "string"}},
                                                     "required": ["place"]}}},
    {"type": "function", "function": {"name": "read_image", "description": "Answer a question about an image.",
                                      "parameters": {"type": "object",
                                                     "properties": {"question": {"type": "string"}}}}},
]


def _render(messages: list[dict], tools: list[dict] | None = None) -> str:
    """Render as transformers does for `apply_chat_template` (vLLM's path), else a plain sandboxed jinja env."""
    source = TEMPLATE.read_text()
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template

        template = _compile_jinja_template(source)
    except ImportError:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(source)
    return template.render(messages=messages, tools=tools, add_generation_prompt=True)


def _hermes_calls(text: str) -> list[dict]:
    """What vLLM's hermes parser extracts: JSON objects between <tool_call> tags."""
    return [json.loads(m) for m in re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", text, flags=re.S)]


def test_chat_template_exposes_tools_images_and_tool_turns():
    messages = [
        {"role": "system", "content": "You are Sentinelle."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}},
                                     {"type": "text", "text": "Is there an airport near Bercy?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "locate_place", "arguments": json.dumps({"place": "Bercy"})}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"lat": 48.83, "lon": 2.38}'},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "no airport"}]},
        {"role": "assistant", "content": "No airport near Bercy."},
        {"role": "user", "content": "merci"},
    ]
    text = _render(messages, TOOLS)
    assert text.startswith("<|im_start|>system\nYou are Sentinelle.")
    assert text.endswith("<|im_start|>assistant\n")
    block = re.search(r"<tools>\n(.*?)\n</tools>", text, flags=re.S).group(1)
    assert [json.loads(line)["function"]["name"] for line in block.splitlines()] == ["locate_place", "read_image"]
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 1
    calls = _hermes_calls(text.split("<|im_end|>", 1)[1])  # after the system turn and its format example
    assert calls == [{"name": "locate_place", "arguments": {"place": "Bercy"}}]
    # consecutive tool results go back in one user turn, each in its own <tool_response>
    turn = re.search(r"<\|im_start\|>user\n(<tool_response>.*?)<\|im_end\|>", text, flags=re.S).group(1)
    assert turn.count("<tool_response>") == 2 and "no airport" in turn
    assert text.count("<|im_start|>") == text.count("<|im_end|>") + 1


def test_chat_template_without_tools_is_plain_qwen_chat():
    text = _render([{"role": "user", "content": "Bonjour"}])
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\nBonjour<|im_end|>\n<|im_start|>assistant\n")


# --- the app behind the probes -------------------------------------------------------------------------


def _probe_paths() -> set[str]:
    urls = re.findall(r"http://127\.0\.0\.1:7860(/[\w/]*)", COMPOSE.read_text() + (DEPLOY / "Dockerfile").read_text())
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs(BASE)}
    app = docs[("Deployment", "sentinelle-app")]["spec"]["template"]["spec"]["containers"][0]
    return set(urls) | {app[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}


def test_health_probe_answers_without_login_while_the_app_requires_it(tmp_data_dir, monkeypatch):
    paths = _probe_paths()
    assert len(paths) == 1, f"compose, Dockerfile and k8s probe different paths: {paths}"
    monkeypatch.setenv("SENTINELLE_AUTH", "jury:a-long-password")
    from fastapi.testclient import TestClient

    from assistant.ui.handlers import Handlers
    from assistant.ui.server import build_app
    from assistant.ui.store import SessionStore

    # Own handlers: the same server, without the background model warm-up (not needed to answer probes).
    client = TestClient(build_app(handlers=Handlers(store=SessionStore())))
    assert client.get(paths.pop()).status_code == 200
    assert client.get("/api/map/some-session").status_code == 401


# --- the app's OpenAI-compatible client against a scripted vLLM-like server ----------------------------


class _ScriptedVLLM:
    """A loopback HTTP server that answers /v1/chat/completions the way vLLM does with the hermes parser: streamed,
    the tool call's id and name in one chunk, its arguments in fragments, finish_reason tool_calls. Once the request
    carries a tool result, it streams a plain answer instead (the second step of the agent's loop)."""

    def __init__(self, tool: str, args: dict, answer: str = "Here it is.") -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: list[dict] = []
        outer = self
        text = json.dumps(args)
        fragments = [text[: len(text) // 2], text[len(text) // 2 :]]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
                call = {"index": 0, "id": f"chatcmpl-tool-{len(outer.seen)}", "type": "function",
                        "function": {"name": tool, "arguments": ""}}
                answered = any(m.get("role") == "tool" for m in body["messages"]) or not body.get("tools")
                if answered:
                    deltas = [({"role": "assistant", "content": ""}, None)]
                    deltas += [({"content": w + " "}, None) for w in answer.split()] + [({}, "stop")]
                else:
                    deltas = [({"role": "assistant", "content": ""}, None), ({"tool_calls": [call]}, None)]
                    deltas += [({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}, None)
                               for f in fragments]
                    deltas.append(({}, "tool_calls"))
                if body.get("stream"):
                    lines = [json.dumps({**base, "choices": [{"index": 0, "delta": d, "finish_reason": f}]})
                             for d, f in deltas]
                    payload = "".join(f"data: {line}\n\n" for line in lines) + "data: [DONE]\n\n"
                    self._send(payload.encode(), "text/event-stream")
                else:
                    message = {"role": "assistant", "content": None,
                               "tool_calls": [{**call, "function": {"name": tool, "arguments": text}}]}
                    if answered:
                        message = {"role": "assistant", "content": answer}
                    reply = {**base, "object": "chat.completion",
                             "choices": [{"index": 0, "message": message,
                                          "finish_reason": "stop" if answered else "tool_calls"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
                    self._send(json.dumps(reply).encode(), "application/json")

            def _send(self, payload: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _ScriptedVLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _use_deployed_app_env(monkeypatch, url: str) -> None:
    """The GPU app's environment from the compose file, with vLLM's address replaced by the loopback server."""
    from assistant.config import get_settings

    env = {k: substitute(str(v)) for k, v in compose()["services"]["app"]["environment"].items() if v is not None}
    env.update(SENTINELLE_LLM_BASE_URL=url, SENTINELLE_VLM_BASE_URL=url, SENTINELLE_LLM_API_KEY="deploy-test-key")
    for container_only in ("SENTINELLE_DATA_DIR", "SENTINELLE_CATALOG_DIR", "SENTINELLE_DATA_MIRROR",
                           "SENTINELLE_CHROMA_URL"):  # container paths and the chroma server are not here
        env.pop(container_only, None)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


def _check_requests(seen: list[dict], tools: set[str]) -> None:
    for request in seen:
        assert request["path"] == "/v1/chat/completions"
        assert request["auth"] == "Bearer deploy-test-key"
        assert request["body"]["model"] == _flag(_compose_vllm_args(), "--served-model-name")
        assert tools <= {t["function"]["name"] for t in request["body"]["tools"]}


def test_app_chat_model_parses_vllm_tool_calls(monkeypatch, tmp_data_dir):
    from assistant.llm import get_chat_model

    with _ScriptedVLLM("locate_place", {"place": "Bercy"}) as server:
        _use_deployed_app_env(monkeypatch, server.url)
        bound = get_chat_model().bind_tools(TOOLS[:1])
        streamed = None
        for chunk in bound.stream("Où est Bercy ?"):
            streamed = chunk if streamed is None else streamed + chunk
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [("locate_place", {"place": "Bercy"})]
    assert len(server.seen) == 1 and server.seen[0]["body"]["stream"] is True
    _check_requests(server.seen, {"locate_place"})


def test_deployed_agent_answers_through_vllm_tool_calling(monkeypatch, tmp_data_dir):
    """The whole turn with the deployment's settings: vLLM picks a tool, the real tool runs, vLLM answers."""
    from assistant.agent import Assistant
    from assistant.llm import planner_mode

    with _ScriptedVLLM("locate_place", {"place": "Paris"}, answer="Paris is on the map.") as server:
        _use_deployed_app_env(monkeypatch, server.url)
        assert planner_mode() == "llm"
        events = list(Assistant().stream("Where is Paris?"))
    kinds = [e.type for e in events]
    assert kinds.index("tool_started") < kinds.index("tool_finished") < kinds.index("text_delta") < kinds.index("done")
    finished = next(e for e in events if e.type == "tool_finished")
    assert finished.name == "locate_place" and finished.ok, finished.error
    assert events[-1].answer.strip() == "Paris is on the map."
    assert len(server.seen) == 2
    tool_turn = [m for m in server.seen[1]["body"]["messages"] if m["role"] == "tool"]
    assert len(tool_turn) == 1 and "Paris" in json.dumps(tool_turn[0]["content"])
    _check_requests(server.seen, {"locate_place", "find_scenes", "read_image", "detect_change"})
    # what vLLM would feed the model for the second call: the agent's real messages through our chat template
    second = server.seen[1]["body"]
    prompt = _render(second["messages"], second["tools"])
    block = re.search(r"<tools>\n(.*?)\n</tools>", prompt, flags=re.S).group(1)
    listed = {json.loads(line)["function"]["name"] for line in block.splitlines()}
    assert listed == {t["function"]["name"] for t in second["tools"]}
    calls = _hermes_calls(prompt.split("<|im_end|>", 1)[1])
    assert calls == [{"name": "locate_place", "arguments": {"place": "Paris"}}]
    assert prompt.count("<tool_response>") == 1 and prompt.endswith("<|im_start|>assistant\n")


def test_image_reader_sends_what_the_deployed_vllm_accepts(monkeypatch, tmp_data_dir):
    """The reader's VLM request (deployed settings) fits vLLM's image limits and renders through the template."""
    import base64
    import io

    from PIL import Image

    from tools.data import geodata_path
    from tools.reader import vlm
    from tools.render import read_rgb_image

    rgb = read_rgb_image(geodata_path("rasterio-fixtures/cogeo.tif"))  # 1024 x 1024: above the pixel budget
    with _ScriptedVLLM("locate_place", {}, answer="Dense urban blocks along a river.") as server:
        _use_deployed_app_env(monkeypatch, server.url)
        text, info = vlm.ask("What is in this image?", rgb)
    assert text == "Dense urban blocks along a river."
    (request,) = server.seen
    assert request["auth"] == "Bearer deploy-test-key"
    assert request["body"]["model"] == _flag(_compose_vllm_args(), "--served-model-name")
    parts = [p for m in request["body"]["messages"] if isinstance(m["content"], list) for p in m["content"]]
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert 1 <= len(images) <= json.loads(_flag(_compose_vllm_args(), "--limit-mm-per-prompt"))["image"]
    sent = Image.open(io.BytesIO(base64.b64decode(images[0].split(",", 1)[1])))
    max_pixels = json.loads(_flag(_compose_vllm_args(), "--mm-processor-kwargs"))["max_pixels"]
    assert sent.width * sent.height <= max_pixels < rgb.shape[0] * rgb.shape[1]
    assert list(sent.size) == info["vlm_image_size"] and info["vlm_downscaled"]
    prompt = _render(request["body"]["messages"])
    assert prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 1 and "<tools>" not in prompt


def test_latency_benchmark_drives_the_app_client(monkeypatch, tmp_data_dir):
    """deploy/bench_llm.py (for GPU sessions) runs end to end; its numbers here are loopback, not reported."""
    from deploy.bench_llm import run

    with _ScriptedVLLM("locate_place", {"place": "Paris"}) as server:
        _use_deployed_app_env(monkeypatch, server.url)
        rows = run([1, 2], requests=4)
    assert [(r["kind"], r["concurrency"]) for r in rows] == [
        ("agent tool choice", 1), ("agent tool choice", 2), ("image reader", 1), ("image reader", 2)]
    assert [r["with_tool_call"] for r in rows] == [4, 4, 0, 0]
    assert all(0 <= r["ttft_p50_s"] <= r["total_p50_s"] for r in rows)
    images = [m for req in server.seen for m in req["body"]["messages"] if isinstance(m["content"], list)]
    assert len(images) == 8 and images[0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    _check_requests([r for r in server.seen if r["body"].get("tools")], {"locate_place", "read_image"})
