"""Serve local git repos through the Hugging Face Hub API with olah, offline: a stand-in Hub for tests.

Runs with the python of olah's own venv (scripts/setup_olah.sh makes it), not zoo's:

    ~/.cache/zoo/olah-venv/bin/python scripts/olah_serve.py --mirrors DIR --port 8090
    HF_ENDPOINT=http://127.0.0.1:8090 python -c 'from transformers import AutoModel; AutoModel.from_pretrained("org/name")'

A model repo `org/name` is a git repo (committed, any branch name; `main` is what clients ask for) at
`DIR/models/org/name`. Nothing is fetched from huggingface.co: olah runs with `offline = true`.

olah 0.5.4 answers a file or revision missing from a local mirror in offline mode with 401 "Repository not
found" (or 500), where the Hub answers 404 EntryNotFound / RevisionNotFound; transformers probes optional files
(processor_config.json, ...) and takes a 401 as a missing repo. The two wrappers below answer those requests
as the Hub does, from the local git repo; everything else is olah's own code.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import git
import olah.server as server
import olah.server_api_routes as api_routes
import olah.server_file_routes as file_routes
from fastapi.responses import Response
from olah.errors import error_revision_not_found
from olah.server_access import build_repo_ref

_file_head_common = file_routes.file_head_common
_file_get_common = file_routes.file_get_common
_get_latest_commit = api_routes.get_latest_commit


def _local_repos(app, repo_ref):
    for root in app.state.app_settings.config.mirrors_path:
        path = os.path.join(root, repo_ref.repo_type, repo_ref.org or "", repo_ref.repo)
        if os.path.isdir(path):
            yield git.Repo(path)


def _missing_in_mirror(app, repo_type, org, repo, commit, file_path):
    """A Hub-style 404 when a local mirror has the repo but not this revision or file; None otherwise."""
    if not app.state.app_settings.config.offline:
        return None
    repo_ref = build_repo_ref(repo_type, org, repo)
    repos = list(_local_repos(app, repo_ref))
    if not repos:
        return None
    for local in repos:
        try:
            tree = local.commit(commit).tree
        except (git.BadName, ValueError):
            continue
        try:
            tree[file_path]
            return None
        except KeyError:
            return Response(
                status_code=404,
                headers={
                    "x-error-code": "EntryNotFound",
                    "x-error-message": f"{file_path} does not exist on {commit!r}",
                    "x-repo-commit": local.commit(commit).hexsha,
                },
            )
    return error_revision_not_found(revision=commit)


async def file_head_common(app, repo_type, org, repo, commit, file_path, request):
    missing = _missing_in_mirror(app, repo_type, org, repo, commit, file_path)
    return missing or await _file_head_common(app, repo_type, org, repo, commit, file_path, request)


async def file_get_common(app, repo_type, org, repo, commit, file_path, request):
    missing = _missing_in_mirror(app, repo_type, org, repo, commit, file_path)
    return missing or await _file_get_common(app, repo_type, org, repo, commit, file_path, request)


async def get_latest_commit(app, repo_ref, authorization):
    """`/api/models/org/name` (model_info) offline: the local mirror's `main`, as the Hub would answer."""
    if app.state.app_settings.config.offline:
        for local in _local_repos(app, repo_ref):
            try:
                return local.commit("main").hexsha
            except (git.BadName, ValueError):
                continue
    return await _get_latest_commit(app, repo_ref, authorization)


file_routes.file_head_common = file_head_common
file_routes.file_get_common = file_get_common
api_routes.get_latest_commit = get_latest_commit


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", required=True, help="folder holding models/ORG/NAME git repos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workdir", default=None, help="olah's cache and logs (default: a new temporary folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="zoo-olah-")
    os.makedirs(workdir, exist_ok=True)
    config = os.path.join(workdir, "olah.toml")
    with open(config, "w") as f:
        f.write(
            "[basic]\n"
            f'host = "{args.host}"\nport = {args.port}\n'
            f'repos-path = "{os.path.join(workdir, "repos")}"\n'
            f'mirrors-path = ["{os.path.abspath(args.mirrors)}"]\n'
            # never used offline; an unroutable upstream makes sure of it
            'hf-scheme = "http"\nhf-netloc = "127.0.0.1:9"\nhf-lfs-netloc = "127.0.0.1:9"\n'
            "[accessibility]\noffline = true\n"
        )
    sys.argv = ["olah-cli", "--config", config, "--log-path", os.path.join(workdir, "logs")]
    server.main()


if __name__ == "__main__":
    main()
