"""The schema as real editors' validators see it: ajv (strict, draft 2020-12) and yaml-language-server
over stdio, both run by node.  They need node and the npm packages that .ci/run installs
(DIGITCLF_NODE_MODULES); without them these tests skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from digitclf.schema import json_schema
from schema_corpus import BAD, GOOD

NODE_MODULES = Path(os.environ.get("DIGITCLF_NODE_MODULES", Path(__file__).resolve().parents[1] / ".ci-node" /
                                   "node_modules"))
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]

AJV = """
const Ajv2020 = require(process.argv[2] + '/ajv/dist/2020');
const fs = require('fs');
const schema = JSON.parse(fs.readFileSync(process.argv[3]));
const documents = JSON.parse(fs.readFileSync(process.argv[4]));
const validate = new Ajv2020({strict: true, allErrors: true}).compile(schema);  // throws on a strict-mode problem
console.log(JSON.stringify(Object.fromEntries(Object.entries(documents).map(([k, d]) => [k, validate(d)]))));
"""


def need(package: str) -> Path:
    if not (NODE_MODULES / package / "package.json").exists():
        pytest.skip(f"npm package {package} is not installed in {NODE_MODULES} (.ci/run installs it)")
    return NODE_MODULES / package


def test_ajv_strict_compiles_the_schema_and_agrees_with_config_validate(tmp_path):
    need("ajv")
    (tmp_path / "check.js").write_text(AJV)
    (tmp_path / "schema.json").write_text(json.dumps(json_schema()))
    (tmp_path / "docs.json").write_text(json.dumps({**{f"good {k}": v for k, v in GOOD.items()},
                                                    **{f"bad {k}": v for k, v in BAD.items()}}))
    done = subprocess.run(["node", "check.js", str(NODE_MODULES), "schema.json", "docs.json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # strict mode logs nothing either
    verdicts = json.loads(done.stdout)
    assert {k for k, ok in verdicts.items() if ok} == {f"good {k}" for k in GOOD}


class LanguageServer:
    """A minimal LSP client: JSON-RPC over the server's stdin/stdout, as an editor speaks it."""

    def __init__(self, command: list[str], root: Path, settings: dict | None = None):
        self.settings = {"validate": True, "schemaStore": {"enable": False}, **(settings or {})}
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=root)
        self.next_id = 0
        self.diagnostics: dict[str, list[dict]] = {}

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.read()
            if message.get("id") == self.next_id and "method" not in message:
                return message

    def read(self) -> dict:
        headers = {}
        while (line := self.proc.stdout.readline().decode().strip()):
            key, _, value = line.partition(":")
            headers[key.lower()] = value.strip()
        if not headers:
            raise EOFError("the language server closed its output")
        message = json.loads(self.proc.stdout.read(int(headers["content-length"])))
        if message.get("method") == "textDocument/publishDiagnostics":
            self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
        elif "method" in message and "id" in message:  # the server asks the editor something
            result = None
            if message["method"] == "workspace/configuration":
                result = [self.settings if item.get("section") == "yaml" else None
                          for item in message["params"]["items"]]
            self.send({"id": message["id"], "result": result})
        return message

    def diagnostics_for(self, uri: str, timeout: float = 30.0) -> list[dict]:
        import select

        deadline = time.monotonic() + timeout
        while uri not in self.diagnostics and time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                self.read()
        assert uri in self.diagnostics, f"no diagnostics published for {uri}"
        return self.diagnostics[uri]

    def close(self) -> None:
        try:
            self.request("shutdown", {})
            self.send({"method": "exit"})
            self.proc.wait(timeout=10)
        finally:
            self.proc.kill()


def test_yaml_language_server_flags_exactly_the_bad_configs(tmp_path):
    server_js = need("yaml-language-server") / "bin" / "yaml-language-server"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "config.schema.json").write_text(json.dumps(json_schema()))
    configs = tmp_path / "my-configs"  # (tmp_path/configs links to the shipped configs)
    configs.mkdir()
    documents = {**{f"good-{i}": d for i, d in enumerate(GOOD.values())},
                 **{f"bad-{i}": d for i, d in enumerate(BAD.values())}}
    labels = {**{f"good-{i}": k for i, k in enumerate(GOOD)}, **{f"bad-{i}": k for i, k in enumerate(BAD)}}
    server = LanguageServer(["node", str(server_js), "--stdio"], tmp_path)
    try:
        server.request("initialize", {"processId": os.getpid(), "rootUri": tmp_path.as_uri(), "capabilities": {
            "workspace": {"configuration": True}, "textDocument": {"publishDiagnostics": {}}}})
        server.send({"method": "initialized", "params": {}})
        server.send({"method": "workspace/didChangeConfiguration",
                     "params": {"settings": {"yaml": {"validate": True, "schemaStore": {"enable": False}}}}})
        uris = {}
        for key, document in documents.items():
            path = configs / f"{key}.yaml"
            # the line README and every shipped config carry
            text = "# yaml-language-server: $schema=../docs/config.schema.json\n" + (
                yaml.safe_dump(document, sort_keys=False) if document else "name: digits_lbfgs\n")
            path.write_text(text)
            uris[key] = path.as_uri()
            server.send({"method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uris[key], "languageId": "yaml", "version": 1, "text": text}}})
        flagged = {key for key, uri in uris.items()
                   if any(d.get("severity", 1) == 1 for d in server.diagnostics_for(uri))}
    finally:
        server.close()
    assert sorted(labels[k] for k in flagged) == sorted(BAD)


# YAML text whose meaning differs between YAML 1.1 (PyYAML's own reading) and 1.2 (digitclf's and the language
# server's default)
YAML_TEXT = {
    "plots: yes": "output: {plots: yes}",
    "plots: on": "output: {plots: on}",
    "C: 1_000": "model: {params: {C: 1_000}}",
    "seed: 0o17": "seed: 0o17",
    "seed: 010": "seed: 010",
    "seed: 1:30": "seed: 1:30",
    "plots: quoted yes": "output: {plots: 'yes'}",
    "tol: 1e-4": "model: {params: {tol: 1e-4}}",
}


def readme_editor_settings() -> dict:
    """The language server settings README's Editors section tells the reader to set ("yaml.X": value)."""
    import re

    section = (Path(__file__).resolve().parents[1] / "README.md").read_text().split("## Editors, shells", 1)[1]
    found = {}
    for block in re.findall(r"```json\n(.*?)```", section.split("\n## ", 1)[0], re.S):
        found.update(json.loads(block))
    return {key.removeprefix("yaml."): value for key, value in found.items()}


def test_with_readmes_settings_the_language_server_and_config_validate_agree_on_version_dependent_yaml(tmp_path, cli):
    """digitclf reads YAML 1.2 as the language server does by default; README sets nothing for it."""
    server_js = need("yaml-language-server") / "bin" / "yaml-language-server"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "config.schema.json").write_text(json.dumps(json_schema()))
    configs = tmp_path / "my-configs"
    configs.mkdir()
    paths = {}
    for n, (label, text) in enumerate(YAML_TEXT.items()):
        paths[label] = configs / f"case-{n}.yaml"
        paths[label].write_text(f"# yaml-language-server: $schema=../docs/config.schema.json\n{text}\n")
    accepted = {label for label, path in paths.items() if cli("config", "validate", "--config", str(path)).exit_code == 0}
    assert accepted >= {"seed: 010", "seed: 0o17", "tol: 1e-4"}  # the corpus has both verdicts
    assert not accepted & {"plots: yes", "plots: on", "C: 1_000", "seed: 1:30"}  # YAML 1.1 would accept them
    server = LanguageServer(["node", str(server_js), "--stdio"], tmp_path, readme_editor_settings())
    try:
        server.request("initialize", {"processId": os.getpid(), "rootUri": tmp_path.as_uri(), "capabilities": {
            "workspace": {"configuration": True}, "textDocument": {"publishDiagnostics": {}}}})
        server.send({"method": "initialized", "params": {}})
        server.send({"method": "workspace/didChangeConfiguration", "params": {"settings": {"yaml": server.settings}}})
        clean = set()
        for label, path in paths.items():  # one at a time, as a reader opens them
            server.send({"method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": path.as_uri(), "languageId": "yaml", "version": 1, "text": path.read_text()}}})
            if not any(d.get("severity", 1) == 1 for d in server.diagnostics_for(path.as_uri(), timeout=60)):
                clean.add(label)
    finally:
        server.close()
    assert clean == accepted
