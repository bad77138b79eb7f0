# mypy --strict must accept this file (scripts/checks.py types).
from typing import Dict, List, Optional

import virtsnap
from virtsnap import SnapshotInfo, SnapshotTree

with virtsnap.open("test:///default") as conn:
    readonly: bool = conn.readonly
    dom = conn.get_domain_by_name("test")
    parents: Dict[str, Optional[str]] = dom.snapshot_parents(via="children", workers=2)
    tree: SnapshotTree = dom.snapshot_tree()
    infos: List[SnapshotInfo] = dom.snapshot_infos()
    cap: int = virtsnap.MAX_WORKERS
