import os, subprocess, time
import pytest, grpc
from poolfs import *

xfs_fs = loop_fs_fixture("xfs", 2 * GIB)
btrfs_fs = loop_fs_fixture("btrfs", GIB)

@pytest.fixture
def env(driver_factory, xfs_fs, btrfs_fs, tmp_path):
    e = PoolEnv(driver_factory, xfs_fs, btrfs_fs, tmp_path)
    yield e
    e.close()

def test_explore(env, csi):
    env.start()
    c = env.csi(csi)
    for pool in POOLS:
        print(pool, "cap0", c.capacity(pool))
        v = c.create_volume("a-"+pool, pool, required=10*MIB)
        print(pool, "vol", v.volume_id, v.capacity_bytes, "cap1", c.capacity(pool))
        v2 = c.create_volume("b-"+pool, pool, required=200*MIB)
        print(pool, "vol2", v2.capacity_bytes, "cap2", c.capacity(pool))
        print(os.statvfs(env.roots[pool]))
        if pool == "btr":
            print(btrfs_qgroup_limit(volume_path(env, pool, v.volume_id)))
        c.delete_volume(v.volume_id); c.delete_volume(v2.volume_id)
        print(pool, "cap3", c.capacity(pool))
    print(env.driver.stderr()[-3000:])
