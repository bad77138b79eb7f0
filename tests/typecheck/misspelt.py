# mypy --strict must reject this file (scripts/checks.py types): each marked
# line misspells a name of virtsnap, which a type checker must catch.
import virtsnap
from virtsnap import SnapshotInfo, SnapshotTree

conn = virtsnap.opne("test:///default")  # E: misspelt module attribute
tree: SnapshotTree = SnapshotTree({})
tree.rendr()  # E: misspelt method of a lazily loaded class
info: SnapshotInfo = virtsnap.SnapshotInfo  # E: a class is not an instance
real = virtsnap.open("test:///default")
real.readonly = True  # E: read-only property
real.get_domain_by_name("test").snapshot_parents(via="child")  # E: not one of the Literal values
