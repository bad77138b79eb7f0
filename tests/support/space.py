"""Storage pools on the test driver for the free-space tests (test_space, test_status).

The test driver keeps a pool's figures as bookkeeping: a pool of 100 GiB,
and a volume of ``used_gib`` allocated in it, leaves 100 - used_gib free.
"""

import libvirt

POOL_GIB = 100


def disk_xml(path, target="vda"):
    return (f"<disk type='file' device='disk'><source file='{path}'/>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def pool_with_volume(conn, pool_name, used_gib):
    """A transient dir pool ``pool_name`` on libvirt-python ``conn``; the path of its volume."""
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{pool_name}</name>"
        f"<target><path>/{pool_name}</path></target></pool>", 0)
    assert pool.info()[1] == POOL_GIB * 2 ** 30
    volume = pool.createXML(
        f"<volume><name>disk.qcow2</name><capacity unit='GiB'>10</capacity>"
        f"<allocation unit='GiB'>{used_gib}</allocation></volume>", 0)
    return volume.path()


