"""Conformance suites for the store protocols: any implementation runs the same checks.

Each suite is a pytest class with abstract fixtures. A vendor (or one of our own stores)
subclasses it in a test module and provides the fixture; every test of the suite then runs
against that implementation::

    from dicom_inventory.scp.stores.suites import JobStoreSuite

    class TestMyJobStore(JobStoreSuite):
        @pytest.fixture
        def job_store(self, tmp_path):
            store = MyJobStore(...)   # empty
            yield store
            store.close()

        @pytest.fixture
        def reopen(self):             # optional: a new connection to the same data
            ...

* :class:`RepositorySuite` needs a ``repository`` fixture: a
  :class:`~dicom_inventory.scp.stores.repository.Repository` holding at least 3 studies with
  stored files the node can read; the checks hold for any content.
* :class:`InventoryStoreSuite` needs an empty ``inventory_store``.
* :class:`JobStoreSuite` needs an empty ``job_store`` and, for the restart check, a
  ``reopen`` fixture that returns a function giving a new store over the same data.

This module needs pytest (the ``test`` extra); nothing else in the package imports it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from dicom_inventory.encode import encode_inventory
from dicom_inventory.enum import InventoryLevel
from dicom_inventory.model import InventoryHeader
from dicom_inventory.scope import ScopeOfInventory
from dicom_inventory.scp.stores.inventories import InventoryStore
from dicom_inventory.scp.stores.jobs import TERMINAL_STATES, JobStore
from dicom_inventory.scp.stores.repository import Repository, StudyFilteringRepository
from dicom_inventory.synthetic import synthetic_studies

__all__ = ["InventoryStoreSuite", "JobStoreSuite", "RepositorySuite"]


class RepositorySuite:
    """What production relies on from a :class:`Repository` (its module's contract)."""

    @pytest.fixture
    def repository(self) -> Repository:
        """Return the repository under test (at least 3 studies); subclasses override it."""
        raise NotImplementedError("define a `repository` fixture")

    def test_it_is_a_repository(self, repository: Repository) -> None:
        assert isinstance(repository, Repository)

    def test_studies_come_in_ascending_key_order_each_once(self, repository: Repository) -> None:
        keys = [s.study_instance_uid for s in repository.iter_studies()]
        assert len(keys) >= 3, "the suite needs a repository with at least 3 studies"
        assert keys == sorted(keys) and len(set(keys)) == len(keys)

    def test_after_and_upto_cut_half_open_ranges(self, repository: Repository) -> None:
        keys = [s.study_instance_uid for s in repository.iter_studies()]
        first, middle = keys[0], keys[len(keys) // 2]
        after = [s.study_instance_uid for s in repository.iter_studies(after=first)]
        assert after == keys[1:], "after= is exclusive (a resumed production starts past it)"
        upto = [s.study_instance_uid for s in repository.iter_studies(upto=middle)]
        assert upto == keys[: len(keys) // 2 + 1], "upto= is inclusive"
        both = [s.study_instance_uid for s in repository.iter_studies(after=first, upto=middle)]
        assert both == keys[1 : len(keys) // 2 + 1]

    @pytest.mark.parametrize("parts", [1, 2, 3, 7])
    def test_key_bounds_partition_the_studies(self, repository: Repository, parts: int) -> None:
        keys = [s.study_instance_uid for s in repository.iter_studies()]
        bounds = repository.study_key_bounds(parts)
        assert len(bounds) <= parts - 1 and bounds == sorted(bounds)
        edges: list[str | None] = [None, *bounds, None]
        seen: list[str] = []
        for lo, hi in zip(edges, edges[1:], strict=False):
            seen += [s.study_instance_uid for s in repository.iter_studies(after=lo, upto=hi)]
        assert seen == keys, "the ranges between the bounds hold every study once"

    def test_series_and_instances_are_ordered_and_counted(self, repository: Repository) -> None:
        for study in repository.iter_studies():
            series = list(repository.iter_series(study.study_instance_uid))
            uids = [s.series_instance_uid for s in series]
            assert uids == sorted(uids), study.study_instance_uid
            assert study.number_of_series == len(series), study.study_instance_uid
            total = 0
            for s in series:
                inst = [
                    i.sop_instance_uid for i in repository.iter_instances(s.series_instance_uid)
                ]
                assert inst == sorted(inst), s.series_instance_uid
                total += len(inst)
            assert study.number_of_instances == total, study.study_instance_uid

    def test_stored_files_read_to_the_instance(self, repository: Repository) -> None:
        checked = 0
        for study in repository.iter_studies():
            for series in repository.iter_series(study.study_instance_uid):
                for inst in repository.iter_instances(series.series_instance_uid):
                    for loc in inst.files:
                        ds = pydicom.dcmread(io.BytesIO(loc.read()), stop_before_pixels=True)
                        assert ds.SOPInstanceUID == inst.sop_instance_uid, loc
                        assert ds.file_meta.TransferSyntaxUID == loc.transfer_syntax_uid, loc
                        checked += 1
                    if checked >= 50:
                        return

    def test_metadata_changes_name_the_stored_value(self, repository: Repository) -> None:
        for study in repository.iter_studies():
            for change in study.changes:
                assert change.keyword and change.reason in ("COERCE", "CORRECT"), change
                assert change.stored_value != change.current_value, change

    def test_a_filtered_walk_keeps_every_study_of_the_scope(self, repository: Repository) -> None:
        """A StudyFilteringRepository may skip studies, never one its scope matches."""
        if not isinstance(repository, StudyFilteringRepository):
            pytest.skip("the repository has no iter_filtered_studies (optional)")
        from dicom_inventory.scp.production.scope import parse_scope

        studies = list(repository.iter_studies())
        one, other = studies[0], studies[-1]
        a, b = one.attributes, other.attributes
        dates = sorted(
            str(s.attributes["StudyDate"]) for s in studies if s.attributes.get("StudyDate")
        )
        scopes: list[dict[str, str]] = [
            {"StudyInstanceUID": f"{one.study_instance_uid}\\{other.study_instance_uid}"},
            {"PatientID": str(a.get("PatientID") or "")},
            {"AccessionNumber": str(b.get("AccessionNumber") or "")},
            {
                "PatientID": str(b.get("PatientID") or ""),
                "StudyDate": f"{dates[0] if dates else ''}-",
            },
        ]
        if dates:
            scopes += [
                {"StudyDate": dates[len(dates) // 2]},
                {"StudyDate": f"{dates[0]}-{dates[len(dates) // 2]}"},
                {"StudyDate": f"-{dates[-1]}"},
            ]
        for keys in scopes:
            scope = parse_scope({k: v for k, v in keys.items() if v != "-"})
            expected = [
                s.study_instance_uid
                for s in studies
                if scope.matches(s.attributes, s.study_instance_uid)
            ]
            got = [
                s.study_instance_uid
                for s in repository.iter_filtered_studies(scope.narrowing)
                if scope.matches(s.attributes, s.study_instance_uid)
            ]
            assert got == expected, f"scope {keys}: the filtered walk lost or reordered studies"


def _inventory_file(folder: Path, uid: str, purpose: str = "suite") -> Path:
    header = InventoryHeader(
        uid,
        InventoryLevel.STUDY,
        content_date="20261201",
        content_time="080000",
        inventory_purpose=purpose,
        scope=ScopeOfInventory.from_keys({}),
    )
    path = folder / f"{uid}.dcm"
    studies = synthetic_studies(
        1, series_per_study=1, instances_per_series=2, level=InventoryLevel.STUDY, seed=len(uid)
    )
    path.write_bytes(encode_inventory(header, studies))
    return path


class InventoryStoreSuite:
    """What the node relies on from an :class:`InventoryStore` (its module's contract)."""

    @pytest.fixture
    def inventory_store(self) -> InventoryStore:
        """Return an empty store under test; subclasses override it."""
        raise NotImplementedError("define an `inventory_store` fixture")

    @staticmethod
    def _uids(store: InventoryStore) -> list[str]:
        return [s.header.sop_instance_uid for s in store.inventories()]

    def test_it_is_an_inventory_store(self, inventory_store: InventoryStore) -> None:
        assert isinstance(inventory_store, InventoryStore)
        assert list(inventory_store.inventories()) == []

    def test_a_kept_instance_is_listed_and_replaced_by_uid(
        self, inventory_store: InventoryStore, tmp_path: Path
    ) -> None:
        kept = inventory_store.keep(_inventory_file(tmp_path, "2.25.101", "first"), "2.25.101")
        assert kept.header.sop_instance_uid == "2.25.101" and kept.path.is_file()
        inventory_store.keep(_inventory_file(tmp_path, "2.25.101", "second"), "2.25.101")
        (only,) = inventory_store.inventories()
        assert only.header.inventory_purpose == "second"
        assert pydicom.dcmread(only.path).SOPInstanceUID == "2.25.101"

    def test_a_file_received_into_incoming_is_kept_and_not_listed_before(
        self, inventory_store: InventoryStore
    ) -> None:
        incoming = inventory_store.incoming()
        assert incoming.is_dir()
        source = _inventory_file(incoming, "2.25.111")
        part = source.rename(incoming / ".2.25.111.part")  # as the Storage SCP writes it
        assert self._uids(inventory_store) == []
        inventory_store.keep(part, "2.25.111")
        assert not part.exists() and self._uids(inventory_store) == ["2.25.111"]

    def test_a_staged_tree_is_invisible_until_published_whole(
        self, inventory_store: InventoryStore
    ) -> None:
        staging = inventory_store.staging("2.25.7")
        assert staging.is_dir() and inventory_store.published("2.25.7") is None
        _inventory_file(staging, "2.25.201")
        _inventory_file(staging, "2.25.202")
        assert self._uids(inventory_store) == [], "nothing staged is listed (PS3.4 JJ)"
        assert inventory_store.staging("2.25.7") == staging, "a resumed job finds its files"
        folder = inventory_store.publish("2.25.7")
        assert inventory_store.published("2.25.7") == folder
        assert sorted(self._uids(inventory_store)) == ["2.25.201", "2.25.202"]
        assert {p.name for p in folder.iterdir()} >= {"2.25.201.dcm", "2.25.202.dcm"}

    def test_discard_and_remove(self, inventory_store: InventoryStore) -> None:
        _inventory_file(inventory_store.staging("2.25.8"), "2.25.301")
        inventory_store.discard("2.25.8")
        assert list(inventory_store.staging("2.25.8").iterdir()) == []
        _inventory_file(inventory_store.staging("2.25.9"), "2.25.302")
        inventory_store.publish("2.25.9")
        assert inventory_store.remove("2.25.9") and not inventory_store.remove("2.25.9")
        assert inventory_store.published("2.25.9") is None and self._uids(inventory_store) == []

    def test_an_unreadable_instance_is_skipped(self, inventory_store: InventoryStore) -> None:
        staging = inventory_store.staging("2.25.10")
        _inventory_file(staging, "2.25.401")
        (staging / "2.25.402.dcm").write_bytes(b"not DICOM")
        inventory_store.publish("2.25.10")
        assert self._uids(inventory_store) == ["2.25.401"]

    def test_threads_publish_at_once(self, inventory_store: InventoryStore) -> None:
        for n in range(8):
            _inventory_file(inventory_store.staging(f"2.25.6{n}"), f"2.25.60{n}")
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def publish(n: int) -> None:
            barrier.wait()
            try:
                inventory_store.publish(f"2.25.6{n}")
                inventory_store.published(f"2.25.6{n}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=publish, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert sorted(self._uids(inventory_store)) == [f"2.25.60{n}" for n in range(8)]

    def test_listing_survives_a_concurrent_publish(self, inventory_store: InventoryStore) -> None:
        for n in range(20):
            _inventory_file(inventory_store.staging(f"2.25.5{n}"), f"2.25.50{n}")
        errors: list[BaseException] = []

        def publish() -> None:
            try:
                for n in range(20):
                    inventory_store.publish(f"2.25.5{n}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        t = threading.Thread(target=publish)
        t.start()
        while t.is_alive():
            list(inventory_store.inventories())
        t.join()
        assert not errors and len(self._uids(inventory_store)) == 20


def _create(store: JobStore, uid: str = "2.25.1") -> bool:
    return store.create(uid, "MIGRATOR", "STUDY", {"PatientID": "P*"}, "test", None, "2.25.99")


class JobStoreSuite:
    """What the node relies on from a :class:`JobStore` (its module's contract, PS3.4 KK.2)."""

    @pytest.fixture
    def job_store(self) -> JobStore:
        """Return an empty store under test; subclasses override it."""
        raise NotImplementedError("define a `job_store` fixture")

    @pytest.fixture
    def reopen(self) -> Callable[[], JobStore] | None:
        """Return a function that opens a new store over the same data (``None``: skip)."""
        return None

    def test_it_is_a_job_store(self, job_store: JobStore) -> None:
        assert isinstance(job_store, JobStore) and job_store.jobs() == []

    def test_a_transaction_uid_is_taken_once(self, job_store: JobStore) -> None:
        assert _create(job_store) and not _create(job_store)
        job = job_store.get("2.25.1")
        assert job is not None and job.state == "PROCESSING" and job_store.active_count() == 1
        assert job.scope == {"PatientID": "P*"} and job.requester == "MIGRATOR"
        assert job_store.get("2.25.404") is None

    def test_a_state_change_and_its_event_are_one_transaction(self, job_store: JobStore) -> None:
        _create(job_store)
        with pytest.raises(TypeError):  # the event cannot be stored: nothing of the change is kept
            job_store.transition("2.25.1", "COMPLETE", event=(11, {"bad": object()}))
        job = job_store.get("2.25.1")
        assert job is not None and job.state == "PROCESSING" and job_store.events("2.25.1") == []
        job_store.transition("2.25.1", "COMPLETE", event=(11, {"TransactionStatus": "COMPLETE"}))
        job = job_store.get("2.25.1")
        assert job is not None and job.state == "COMPLETE" and job_store.active_count() == 0
        assert [e["event_type"] for e in job_store.events("2.25.1")] == [11]
        assert [j.transaction_uid for j in job_store.jobs(*TERMINAL_STATES)] == ["2.25.1"]

    def test_a_transition_sets_fields_and_clears_the_wish(self, job_store: JobStore) -> None:
        _create(job_store)
        job_store.want("2.25.1", "CANCEL", retain=False)
        job = job_store.get("2.25.1")
        assert job is not None and job.wanted == "CANCEL" and not job.retain
        job_store.progress("2.25.1", 42)
        job_store.set_interval("2.25.1", 5)
        job_store.transition("2.25.1", "CANCELED", comment="why", expires="2026-12-31T00:00:00")
        job = job_store.get("2.25.1")
        assert job is not None and job.wanted is None and job.comment == "why"
        assert job.study_records == 42 and job.status_interval == 5
        assert job.expires == "2026-12-31T00:00:00"

    def test_events_leave_in_order_one_transaction_at_a_time(self, job_store: JobStore) -> None:
        _create(job_store, "2.25.1")
        _create(job_store, "2.25.2")
        job_store.queue_event("2.25.1", 12, {"n": 1})
        job_store.queue_event("2.25.1", 11, {"n": 2})
        job_store.queue_event("2.25.2", 12, {"n": 3})
        due = list(job_store.due_events(now=1e12))
        assert [(e.transaction_uid, e.event_type) for e in due] == [
            ("2.25.1", 12),
            ("2.25.2", 12),
        ]
        assert due[0].info == {"n": 1} and due[0].requester == "MIGRATOR"
        job_store.delivered(due[0].id)
        later = [e for e in job_store.due_events(now=1e12) if e.transaction_uid == "2.25.1"]
        assert [e.event_type for e in later] == [11]

    def test_a_failed_event_backs_off_then_is_given_up(self, job_store: JobStore) -> None:
        _create(job_store)
        job_store.queue_event("2.25.1", 11, {})
        (event,) = job_store.due_events(now=1e12)
        job_store.failed(event.id, "refused", next_attempt=100.0)
        assert list(job_store.due_events(now=50.0)) == []  # not due yet
        (again,) = job_store.due_events(now=100.0)
        assert again.attempts == 1
        job_store.failed(again.id, "refused", next_attempt=None)
        assert list(job_store.due_events(now=1e12)) == []
        (record,) = job_store.events("2.25.1")
        assert record["given_up"] and record["last_error"] == "refused"
        assert record["attempts"] == 2

    def test_threads_share_the_store(self, job_store: JobStore) -> None:
        def work(k: int) -> None:
            for n in range(10):
                uid = f"2.25.{k}.{n}"
                _create(job_store, uid)
                job_store.transition(uid, "COMPLETE", event=(11, {"n": n}))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(job_store.jobs("COMPLETE")) == 40
        assert len(list(job_store.due_events(now=1e12))) == 40

    def test_a_lease_is_held_by_one_node_until_it_lapses(self, job_store: JobStore) -> None:
        _create(job_store)
        assert [j.transaction_uid for j in job_store.orphans(now=100.0)] == ["2.25.1"]
        assert job_store.claim("2.25.1", "node-a", lease=30, now=100.0)
        assert not job_store.claim("2.25.1", "node-b", lease=30, now=110.0)
        assert job_store.claim("2.25.1", "node-a", lease=30, now=120.0), "the holder renews"
        assert job_store.orphans(now=149.0) == []
        job = job_store.get("2.25.1")
        assert job is not None and job.owner == "node-a" and job.lease_until == 150.0
        # node-a died: its lease lapses and another node takes the transaction over
        assert [j.transaction_uid for j in job_store.orphans(now=151.0)] == ["2.25.1"]
        assert job_store.claim("2.25.1", "node-b", lease=30, now=151.0)
        assert not job_store.claim("2.25.1", "node-a", lease=30, now=152.0)
        job_store.release("2.25.1", "node-a")  # not the holder: nothing changes
        assert not job_store.claim("2.25.1", "node-a", lease=30, now=153.0)
        job_store.release("2.25.1", "node-b")
        assert job_store.claim("2.25.1", "node-a", lease=30, now=154.0)
        job_store.transition("2.25.1", "COMPLETE")
        assert job_store.orphans(now=1e12) == [], "only PROCESSING transactions are taken over"

    def test_an_event_is_sent_by_one_node(self, job_store: JobStore) -> None:
        _create(job_store)
        job_store.queue_event("2.25.1", 11, {})
        (event,) = job_store.due_events(now=1e12)
        assert job_store.claim_event(event.id, "node-a", lease=30, now=100.0)
        assert not job_store.claim_event(event.id, "node-b", lease=30, now=110.0)
        assert job_store.claim_event(event.id, "node-b", lease=30, now=131.0), "lapsed"
        job_store.delivered(event.id)
        assert not job_store.claim_event(event.id, "node-b", lease=30, now=1e12)

    def test_of_nodes_claiming_at_once_exactly_one_wins(
        self, job_store: JobStore, reopen: Callable[[], JobStore] | None
    ) -> None:
        _create(job_store)
        stores = [job_store] + ([reopen() for _ in range(3)] if reopen is not None else [])
        barrier = threading.Barrier(8)
        won: list[str] = []

        def race(n: int) -> None:
            barrier.wait()
            if stores[n % len(stores)].claim("2.25.1", f"node-{n}", lease=30, now=100.0):
                won.append(f"node-{n}")

        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for extra in stores[1:]:
            extra.close()
        assert len(won) == 1, won
        job = job_store.get("2.25.1")
        assert job is not None and job.owner == won[0]

    def test_everything_survives_a_reopen(
        self, job_store: JobStore, reopen: Callable[[], JobStore] | None
    ) -> None:
        if reopen is None:
            pytest.skip("no `reopen` fixture: the store has no durable data to reopen")
        _create(job_store)
        job_store.transition("2.25.1", "PAUSED", event=(12, {"TransactionStatus": "PAUSED"}))
        again = reopen()
        try:
            job = again.get("2.25.1")
            assert job is not None and job.state == "PAUSED"
            assert [e.event_type for e in again.due_events(now=1e12)] == [12]
        finally:
            again.close()
