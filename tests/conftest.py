"""Shared paths for the tests: the repository root, the built-in faces and the real face sets."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

BUILTIN_FACES = os.path.join(REPO, "faces")
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
ORL_FACES = os.path.join(SHARED_DATA, "orl_faces")
YALE_FACES = os.path.join(SHARED_DATA, "yalefaces")


@pytest.fixture
def repo():
    return REPO
