"""scripts/api_version.py against throwaway git repositories (stdlib unittest).

python3 -m unittest scripts/test_api_version.py
"""
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parent / "api_version.py"


class Repo:
    def __init__(self, root: pathlib.Path):
        self.root = root
        (root / "scripts").mkdir()
        (root / "schemas").mkdir()
        shutil.copy(SCRIPT, root / "scripts/api_version.py")
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "ci@example.invalid")
        self.git("config", "user.name", "ci")

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.root), *args], check=True, capture_output=True)

    def document(self, version: str, paths: dict) -> None:
        doc = {"openapi": "3.0.0", "info": {"title": "eats", "version": version}, "paths": paths}
        (self.root / "schemas/openapi.json").write_text(json.dumps(doc, indent=2) + "\n")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(self.root / "scripts/api_version.py"), *args], capture_output=True, text=True
        )

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


class ApiVersionCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = Repo(pathlib.Path(self.tmp.name))
        self.repo.document("1.0.0", {"/a": {}})
        self.assertEqual(self.repo.run("record").returncode, 0)
        self.repo.commit("first")

    def tearDown(self):
        self.tmp.cleanup()

    def test_a_recorded_document_on_a_single_commit_checkout_passes(self):
        result = self.repo.run("check")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no base commit", result.stderr)

    def test_a_changed_document_under_the_same_version_fails_even_without_history(self):
        self.repo.document("1.0.0", {"/a": {}, "/b": {}})
        result = self.repo.run("check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("changed but info.version is still 1.0.0", result.stderr)

    def test_a_changed_document_with_a_bumped_and_recorded_version_passes(self):
        self.repo.document("1.1.0", {"/a": {}, "/b": {}})
        self.assertEqual(self.repo.run("record").returncode, 0)
        self.repo.commit("bump")
        result = self.repo.run("check")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("compared with", result.stderr)

    def test_a_bumped_version_that_was_not_recorded_fails(self):
        self.repo.document("1.1.0", {"/a": {}, "/b": {}})
        result = self.repo.run("check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("does not record", result.stderr)

    def test_rewriting_the_ledger_to_hide_a_change_fails_against_the_previous_commit(self):
        self.repo.document("1.0.0", {"/a": {}, "/b": {}})
        ledger = self.repo.root / "schemas/openapi.versions"
        ledger.write_text(ledger.read_text().split("1.0.0")[0])
        self.assertEqual(self.repo.run("record").returncode, 0)
        self.repo.commit("sneaky")
        result = self.repo.run("check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("only append", result.stderr)
        self.assertIn("both say 1.0.0", result.stderr)

    def test_recording_another_document_under_a_recorded_version_is_refused(self):
        self.repo.document("1.0.0", {"/a": {}, "/b": {}})
        result = self.repo.run("record")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("recorded for another document", result.stderr)


if __name__ == "__main__":
    unittest.main()
