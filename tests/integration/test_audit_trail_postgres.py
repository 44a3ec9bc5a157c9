"""The audit trail contract against PostgreSQL.

Each view the contract asks for gets its own schema in the test's database (a fresh schema is
far cheaper than a fresh database, and the property test asks for one view per example).
"""

from collections.abc import Iterator

import pytest

from projections.audit_trail import SqlAuditTrail
from projections.positions import save_positions
from projections.sqldb import SqlDatabase
from tests.contracts.audit_trail_contract import STREAM, AuditTrailContract, MakeView
from tests.support.views import postgres_views

pytestmark = pytest.mark.postgres


class TestPostgresAuditTrail(AuditTrailContract):
    @pytest.fixture
    def make_view(self, database_url: str) -> Iterator[MakeView]:
        yield from postgres_views(database_url, SqlAuditTrail, pool_size=1)

    def test_views_in_other_schemas_do_not_see_each_other(self, make_view: MakeView) -> None:
        first, second = make_view(), make_view()

        first.apply([], {STREAM: 3})

        assert (first.positions(), second.positions()) == ({STREAM: 3}, {})

    def test_reset_leaves_the_other_followers_positions(self, database_url: str) -> None:
        db = SqlDatabase(database_url, pool_size=1)
        try:
            view = SqlAuditTrail(db)
            view.apply([], {STREAM: 5})
            with db.transaction() as cur:
                save_positions(cur, "order_status", {STREAM: 8})

            view.reset()

            with db.transaction() as cur:
                cur.execute("SELECT follower, position FROM orderhub_positions")
                assert cur.fetchall() == [("order_status", 8)]
        finally:
            db.close()

    def test_a_trail_is_read_through_the_primary_key(self, database_url: str) -> None:
        db = SqlDatabase(database_url, pool_size=1)
        try:
            SqlAuditTrail(db)
            with db.transaction() as cur:
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("EXPLAIN SELECT * FROM audit_trail WHERE order_id = ?", ("x",))
                plan = " ".join(row[0] for row in cur.fetchall())
            assert "audit_trail_pkey" in plan
        finally:
            db.close()
