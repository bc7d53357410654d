"""A PEP 517 build backend in the standard library alone, so `pip install ./sdk/python` needs no download.

It builds a pure-Python wheel of `mcphub_sdk` (and an sdist) from the metadata in pyproject.toml.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'mcphub_sdk'
#: Zip entries carry this time (1980-01-01), so a wheel's bytes depend on its files alone.
EPOCH = (1980, 1, 1, 0, 0, 0)


def _project() -> Dict[str, str]:
    """The `key = "value"` lines of pyproject.toml's [project] table (all this package uses)."""
    with open(os.path.join(ROOT, 'pyproject.toml'), encoding='utf-8') as file:
        text = file.read()
    table = re.search(r'^\[project\]\s*$(.*?)(?=^\[|\Z)', text, re.M | re.S)
    if table is None:
        raise RuntimeError('pyproject.toml has no [project] table')
    return dict(re.findall(r'^([A-Za-z-]+)\s*=\s*"([^"]*)"\s*$', table.group(1), re.M))


def _names() -> Tuple[str, str]:
    project = _project()
    return project['name'].replace('-', '_'), project['version']


def _metadata() -> str:
    project = _project()
    lines = [
        'Metadata-Version: 2.1',
        f'Name: {project["name"]}',
        f'Version: {project["version"]}',
        f'Summary: {project.get("description", "")}',
        f'Requires-Python: {project.get("requires-python", ">=3.9")}',
        f'License: {project.get("license", "")}',
    ]
    readme = os.path.join(ROOT, project.get('readme', 'README.md'))
    if os.path.exists(readme):
        with open(readme, encoding='utf-8') as file:
            lines.append('Description-Content-Type: text/markdown')
            return '\n'.join(lines) + '\n\n' + file.read()
    return '\n'.join(lines) + '\n'


def _package_files() -> List[Tuple[str, bytes]]:
    """(path in the wheel, content) of every module and data file of the package, sorted."""
    files = []
    for directory, subdirectories, names in os.walk(os.path.join(ROOT, PACKAGE)):
        subdirectories[:] = sorted(d for d in subdirectories if d != '__pycache__')
        for name in sorted(names):
            if name.endswith(('.py', '.typed')):
                path = os.path.join(directory, name)
                with open(path, 'rb') as file:
                    files.append((os.path.relpath(path, ROOT).replace(os.sep, '/'), file.read()))
    return files


def _record_line(path: str, content: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b'=').decode('ascii')
    return f'{path},sha256={digest},{len(content)}'


def _dist_info(files: List[Tuple[str, bytes]]) -> List[Tuple[str, bytes]]:
    name, version = _names()
    info = f'{name}-{version}.dist-info'
    wheel = 'Wheel-Version: 1.0\nGenerator: mcphub_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n'
    entries = [(f'{info}/METADATA', _metadata().encode('utf-8')), (f'{info}/WHEEL', wheel.encode('utf-8'))]
    record = '\n'.join([_record_line(p, c) for p, c in files + entries] + [f'{info}/RECORD,,']) + '\n'
    return entries + [(f'{info}/RECORD', record.encode('utf-8'))]


def _write_wheel(directory: str, files: List[Tuple[str, bytes]]) -> str:
    name, version = _names()
    filename = f'{name}-{version}-py3-none-any.whl'
    with zipfile.ZipFile(os.path.join(directory, filename), 'w', zipfile.ZIP_DEFLATED) as wheel:
        for path, content in files + _dist_info(files):
            entry = zipfile.ZipInfo(path, EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, content)
    return filename


# --- PEP 517 / 660 hooks ---

def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    entries = _dist_info([])
    info = entries[0][0].split('/')[0]
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    for path, content in entries[:2]:
        with open(os.path.join(metadata_directory, path), 'wb') as file:
            file.write(content)
    return info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None, metadata_directory: Optional[str] = None) -> str:
    """A wheel holding a .pth file that puts this source tree on sys.path."""
    name, _ = _names()
    return _write_wheel(wheel_directory, [(f'_{name}_editable.pth', (ROOT + '\n').encode('utf-8'))])


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, Any]] = None) -> str:
    name, version = _names()
    base = f'{name}-{version}'
    filename = f'{base}.tar.gz'
    paths = ['pyproject.toml', 'README.md', '_build/mcphub_build.py'] + [p for p, _ in _package_files()]
    for directory, subdirectories, names in os.walk(os.path.join(ROOT, 'tests')):
        subdirectories[:] = sorted(d for d in subdirectories if d != '__pycache__')
        paths += sorted(os.path.relpath(os.path.join(directory, n), ROOT).replace(os.sep, '/') for n in names if n.endswith('.py'))
    with tarfile.open(os.path.join(sdist_directory, filename), 'w:gz', format=tarfile.PAX_FORMAT) as sdist:
        pkg_info = _metadata().encode('utf-8')
        entries = [(f'{base}/PKG-INFO', pkg_info)]
        for path in paths:
            full = os.path.join(ROOT, path)
            if os.path.exists(full):
                with open(full, 'rb') as file:
                    entries.append((f'{base}/{path}', file.read()))
        for path, content in entries:
            member = tarfile.TarInfo(path)
            member.size = len(content)
            member.mode = 0o644
            member.mtime = 0
            sdist.addfile(member, io.BytesIO(content))
    return filename
