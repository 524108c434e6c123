"""Gallery builds never lose data: staging + rename, verified overwrite, half-written refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fallback_world import TILE_SIDE_M, write_crop
from spikevim_ros.cli import main
from spikevim_ros.encoder import build_encoder
from spikevim_ros.gallery import Gallery, GalleryBuildConfig, GalleryError, build_gallery
from spikevim_ros.gallery.store import INCOMPLETE_MARKER, MANIFEST


@pytest.fixture(scope='module')
def encoder():
    """Return the untrained encoder."""
    return build_encoder('T', runtime='auto')


@pytest.fixture(scope='module')
def crop(tmp_path_factory) -> Path:
    """Return a folder holding a small geo-referenced map crop."""
    return write_crop(tmp_path_factory.mktemp('map') / 'map')


class InterruptingEncoder:
    """The real encoder, interrupted (as by Ctrl-C) on its second batch."""

    def __init__(self, encoder) -> None:
        self._encoder, self._calls = encoder, 0

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def __call__(self, batch):
        self._calls += 1
        if self._calls == 2:
            raise KeyboardInterrupt
        return self._encoder(batch)


def build(crop: Path, out: Path, encoder, overwrite: bool = False, **kw) -> Gallery:
    config = GalleryBuildConfig(tile_sides_m=(TILE_SIDE_M,), input_size=64, batch_size=4,
                                overwrite=overwrite, progress=False, **kw)
    return build_gallery([crop], out, encoder, config)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob('*')) if p.is_file()}


def siblings(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.parent.iterdir() if p.name != directory.name)


def test_interrupted_overwrite_keeps_the_old_gallery_valid(crop, encoder, tmp_path):
    out = tmp_path / 'gallery'
    build(crop, out, encoder)
    before = snapshot(out)
    with pytest.raises(KeyboardInterrupt):
        build(crop, out, InterruptingEncoder(encoder), overwrite=True, stride_fraction=0.25)
    assert snapshot(out) == before
    assert len(Gallery.load(out, encoder)) > 0
    assert siblings(out) == []                       # staging directory removed
    rebuilt = build(crop, out, encoder, overwrite=True, stride_fraction=0.25)
    assert len(rebuilt) > len(before) - 4 and siblings(out) == []
    assert len(Gallery.load(out, encoder)) == len(rebuilt)


def test_failed_first_build_leaves_nothing_and_a_plain_rebuild_works(crop, encoder, tmp_path):
    out = tmp_path / 'first'
    with pytest.raises(KeyboardInterrupt):
        build(crop, out, InterruptingEncoder(encoder))
    assert not out.exists() and siblings(out) == []
    (out / 'rasters').mkdir(parents=True)            # what an older version left behind
    assert len(build(crop, out, encoder)) > 0


@pytest.mark.parametrize('user_files', [
    {MANIFEST: '{"mine": true}', 'notes.txt': 'my notes'},
    {'notes.txt': 'my notes'},
])
def test_overwrite_refuses_directories_with_files_the_gallery_did_not_write(
        crop, encoder, tmp_path, user_files):
    out = tmp_path / 'user'
    if MANIFEST not in user_files:
        build(crop, out, encoder)                    # a valid gallery ... plus a user file
    out.mkdir(exist_ok=True)
    for name, text in user_files.items():
        (out / name).write_text(text)
    before = snapshot(out)
    with pytest.raises(GalleryError, match='refusing to overwrite'):
        build(crop, out, encoder, overwrite=True)
    assert snapshot(out) == before and siblings(out) == []


def test_half_written_gallery_is_recognised_and_never_loaded(crop, encoder, tmp_path, capsys):
    out = tmp_path / 'half'
    build(crop, out, encoder)
    (out / INCOMPLETE_MARKER).write_text('')
    with pytest.raises(GalleryError, match='half-written'):
        Gallery.load(out)
    assert main(['gallery', 'info', str(out)]) != 0
    assert 'half-written' in capsys.readouterr().err


@pytest.mark.parametrize('entry, value, words', [
    ('checksums', ['index.faiss'], '"checksums" must be a dict'),
    ('tile_count', '12', '"tile_count" must be a int'),
    ('encoder', {'variant': 'T', 'weights_id': 5, 'descriptor_dim': 256},
     '"encoder.weights_id" must be a str'),
    ('checksums', {'../outside.txt': 'abc'}, 'outside the gallery'),
])
def test_manifest_with_wrong_types_is_one_clear_error(crop, encoder, tmp_path, capsys, entry,
                                                      value, words):
    out = tmp_path / 'typed'
    build(crop, out, encoder)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, entry: value}))
    with pytest.raises(GalleryError, match=words):
        Gallery.load(out)
    assert main(['gallery', 'info', str(out)]) != 0
    printed = capsys.readouterr()
    assert words in printed.out + printed.err and 'Traceback' not in printed.err
