"""ListVolumes (spec.md "ListVolumes" and its error table), including
pagination while volumes are being created."""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import ABORTED, INVALID_ARGUMENT, unique


@pytest.fixture
def lv(endpoint):
    endpoint.require("CREATE_DELETE_VOLUME", "LIST_VOLUMES")
    return endpoint


def test_list_volumes_success(lv):
    vols = [lv.create_volume() for _ in range(3)]
    entries, _ = lv.walk("ListVolumes")
    by_id = {e.volume.volume_id: e for e in entries}
    for v in vols:
        assert v.volume_id in by_id
        e = by_id[v.volume_id]
        assert dict(e.volume.volume_context) == dict(v.volume_context)
        if "LIST_VOLUMES_PUBLISHED_NODES" in lv.controller_caps():
            # Entry.status: 'This field MUST be specified if the
            # LIST_VOLUMES_PUBLISHED_NODES controller capability is supported.'
            assert e.HasField("status")
            assert list(e.status.published_node_ids) == []
        if "VOLUME_CONDITION" in lv.controller_caps():
            assert e.status.HasField("volume_condition")
            assert not e.status.volume_condition.abnormal


@pytest.mark.dynvol
def test_list_volumes_empty(lv):
    resp = lv.call("ListVolumes")
    assert list(resp.entries) == [] and resp.next_token == ""


def test_list_volumes_idempotent(lv):
    for _ in range(3):
        lv.create_volume()
    a = lv.call("ListVolumes", max_entries=2)
    b = lv.call("ListVolumes", max_entries=2)
    assert a == b
    if a.next_token:
        assert lv.call("ListVolumes", max_entries=2, starting_token=a.next_token) == \
            lv.call("ListVolumes", max_entries=2, starting_token=a.next_token)


def test_list_volumes_max_entries(lv):
    """'If specified (non-zero value), the Plugin MUST NOT return more entries
    than this number ... If the actual number of entries is more than this
    number, the Plugin MUST set next_token'."""
    mine = {lv.create_volume().volume_id for _ in range(5)}
    entries, pages = lv.walk("ListVolumes", max_entries=2)
    assert all(len(p.entries) <= 2 for p in pages)
    assert all(p.next_token for p in pages[:-1]) and not pages[-1].next_token
    ids = [e.volume.volume_id for e in entries]
    assert len(ids) == len(set(ids)), "duplicates without concurrent changes"
    assert mine <= set(ids)
    if not lv.external:
        assert [len(p.entries) for p in pages] == [2, 2, 1]


def test_list_volumes_max_entries_zero_reaches_everything(lv):
    """max_entries unset: 'no restriction on the number of entries'; whatever
    the plugin returns, following next_token reaches every volume."""
    mine = {lv.create_volume().volume_id for _ in range(3)}
    entries, _ = lv.walk("ListVolumes", max_entries=0)
    assert mine <= {e.volume.volume_id for e in entries}


def test_list_volumes_negative_max_entries(lv):
    """max_entries: 'The value of this field MUST NOT be negative.'"""
    lv.expect(INVALID_ARGUMENT, "ListVolumes", max_entries=-1)


@pytest.mark.parametrize("token", ["not-a-token", "-1", "99999999999", "1.5",
                                   "\u2603"])
def test_list_volumes_invalid_starting_token(lv, token):
    """'Invalid starting_token | 10 ABORTED'."""
    lv.create_volume()
    lv.expect(ABORTED, "ListVolumes", max_entries=1, starting_token=token)


def test_list_volumes_does_not_list_deleted(lv):
    a, b = lv.create_volume(), lv.create_volume()
    lv.delete_volume(a.volume_id)
    ids = lv.volume_ids()
    assert a.volume_id not in ids and b.volume_id in ids


def test_list_volumes_token_survives_deletion_of_last_entry(lv):
    """A token stays usable when the volume that ended the page is deleted."""
    for _ in range(4):
        lv.create_volume()
    first = lv.call("ListVolumes", max_entries=2)
    assert first.next_token
    lv.delete_volume(first.entries[-1].volume.volume_id)
    resp = lv.call("ListVolumes", max_entries=2, starting_token=first.next_token)
    seen = {e.volume.volume_id for e in first.entries} | \
        {e.volume.volume_id for e in resp.entries}
    assert len(seen) == len(first.entries) + len(resp.entries)


def test_list_volumes_shows_published_nodes(lv):
    lv.require("PUBLISH_UNPUBLISH_VOLUME", "LIST_VOLUMES_PUBLISHED_NODES")
    vol = lv.create_volume()
    lv.publish(vol.volume_id)
    entries, _ = lv.walk("ListVolumes")
    e = [e for e in entries if e.volume.volume_id == vol.volume_id]
    assert len(e) == 1 and list(e[0].status.published_node_ids) == [lv.node_id]


def test_list_volumes_pagination_while_creating(lv, record_property):
    """1,000 volumes, walked with max_entries=37 while other threads keep
    creating volumes (at least one between any two pages). The spec allows
    a concurrent walk to miss or repeat *changed* entries ('the CO MAY
    either witness duplicate volumes in the list, not witness existing
    volumes, or both'), but volumes that existed before the walk and were
    not touched are expected exactly once, and no page may exceed
    max_entries."""
    N, PAGE = 1000, 37
    prefix = unique("page")
    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as ex:
        before = list(ex.map(lambda i: lv.create_volume(name=f"{prefix}-{i:04d}").volume_id,
                             range(N)))
    t_create = time.monotonic() - t0
    assert len(set(before)) == N, "CreateVolume returned the same ID twice"

    stop = threading.Event()
    created = []
    errors = []

    def creator(k):
        i = 0
        while not stop.is_set():
            try:
                created.append(lv.create_volume(name=f"{prefix}-new-{k}-{i}").volume_id)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return
            i += 1

    threads = [threading.Thread(target=creator, args=(k,), daemon=True) for k in range(2)]
    for t in threads:
        t.start()
    try:
        pages, token, seen = [], "", []
        t1 = time.monotonic()
        while True:
            n = len(created)
            resp = lv.call("ListVolumes", max_entries=PAGE, starting_token=token)
            pages.append(len(resp.entries))
            seen.extend(e.volume.volume_id for e in resp.entries)
            token = resp.next_token
            if not token:
                break
            # make sure the set really changes between pages
            deadline = time.monotonic() + 2
            while len(created) == n and not errors and time.monotonic() < deadline:
                time.sleep(0.0005)
            assert len(pages) < 10 * N, "the walk does not end"
        t_walk = time.monotonic() - t1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, f"concurrent CreateVolume failed: {errors[0]!r}"
    assert created, "no volume was created during the walk"

    assert max(pages) <= PAGE, f"a page exceeded max_entries={PAGE}: {pages}"
    dups = {v for v, n in Counter(seen).items() if n > 1}
    assert not dups, f"{len(dups)} volumes listed twice, e.g. {sorted(dups)[:3]}"
    seen_set = set(seen)
    missing = [v for v in before if v not in seen_set]
    assert not missing, f"{len(missing)} pre-existing volumes not listed, e.g. {missing[:3]}"
    new_seen = len(seen_set & set(created))
    record_property("pages", len(pages))
    record_property("created_during_walk", len(created))
    record_property("created_during_walk_seen", new_seen)
    print(f"\ncreate {N}: {t_create:.2f}s; walk: {len(pages)} pages in {t_walk:.2f}s; "
          f"{len(created)} volumes created during the walk, {new_seen} of them listed")
    if lv.external:
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda v: lv.try_call("DeleteVolume", volume_id=v), before + created))
