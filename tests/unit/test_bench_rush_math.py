"""bench/loadtest.py's numbers: percentiles, the CPU floor, and the queue message it records."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import loadtest  # noqa: E402


def test_percentile_is_nearest_rank_a_real_sample():
    values = [float(v) for v in range(1, 21)]  # 1..20, shuffled order must not matter
    assert loadtest.percentile(list(reversed(values)), 95) == 19.0
    assert loadtest.percentile(values, 50) == 10.0
    assert loadtest.percentile(values, 100) == 20.0
    assert loadtest.percentile([3.5], 95) == 3.5
    assert loadtest.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == 5.0


def test_floor_is_per_attendee_work_times_attendees_over_cores():
    per = {"server_start": 0.8, "kernel_start": 1.5, "hub": 0.2, "engine": 0.3}
    assert loadtest.cpu_floor_s(per, users=20, cores=2) == pytest.approx(28.0)
    assert loadtest.cpu_floor_s(per, users=50, cores=2) == pytest.approx(70.0)
    assert loadtest.cpu_floor_s(per, users=20, cores=4) == pytest.approx(14.0)
    with pytest.raises(ValueError, match="cores must be >= 1"):
        loadtest.cpu_floor_s(per, users=20, cores=0)


def _cold_record(p95: float) -> dict:
    return {"mode": "cold", "users": 20,
            "steps": {"login_to_first_result": {"p95": p95}},
            "cpu_until_all_have_result": {"core_seconds": {"hub": 4.0, "engine": 6.0}}}


def test_floor_for_a_cold_run_uses_the_runs_hub_and_engine_share():
    costs = {"server_core_s": 0.8, "kernel_core_s": 1.5}
    floor = loadtest.floor_for_run(_cold_record(p95=30.0), costs, cores=2)
    assert floor["per_attendee_core_s"] == {"server_start": 0.8, "kernel_start": 1.5, "hub": 0.2, "engine": 0.3}
    assert floor["floor_s"] == pytest.approx(28.0)
    assert floor["floor_plus_20pct_s"] == pytest.approx(33.6)
    assert floor["within_floor_plus_20pct"] is True
    assert loadtest.floor_for_run(_cold_record(p95=34.0), costs, cores=2)["within_floor_plus_20pct"] is False


def test_the_solo_floor_is_one_attendee_alone_through_the_hub_times_attendees_over_cores():
    record = _cold_record(p95=30.0)
    record["solo"] = {"medians": {"hub": 0.3, "servers": 0.9, "kernels": 1.1, "engine": 0.2}, "core_s": 2.5}
    floor = loadtest.floor_for_run(record, {"server_core_s": 0.8, "kernel_core_s": 1.5}, cores=2)
    assert floor["solo_floor_s"] == pytest.approx(25.0) and floor["p95_over_solo_floor"] == pytest.approx(1.2)
    assert floor["floor_s"] == pytest.approx(28.0)  # the standalone floor stays beside it
    assert "solo_floor_s" not in loadtest.floor_for_run(_cold_record(p95=30.0), {"server_core_s": 0.8,
                                                                                 "kernel_core_s": 1.5}, cores=2)


def test_no_floor_for_prestart_runs_or_without_measured_starts():
    record = _cold_record(p95=3.0)
    assert loadtest.floor_for_run(record, None, cores=2) is None
    record["mode"] = "prestart"
    assert loadtest.floor_for_run(record, {"server_core_s": 1, "kernel_core_s": 1}, cores=2) is None


def test_queue_message_is_the_bilingual_line_of_our_error_page():
    page = ('<h1>429</h1><p id="gluonlab-retry">现在同时启动的人太多，请 10 秒后再试 /\n'
            '  Too many servers are starting right now: try again in 10 seconds.</p>'
            '<p>Too many users trying to log in right now. Try again in 10 seconds.</p>')
    assert loadtest.queue_message(page) == ("现在同时启动的人太多，请 10 秒后再试 / Too many servers are "
                                            "starting right now: try again in 10 seconds.")
    stock = "<p>Too many users trying to log in right now. Try again in 10 seconds.</p>"
    assert loadtest.queue_message(stock) == "Too many users trying to log in right now. Try again in 10 seconds."


def test_a_hub_500_is_recorded_with_the_traceback_logged_before_it():
    log = ["[I 12:00:00 JupyterHub log:192] 200 GET /hub/api (admin@1.2.3.4) 2ms",
           "[E 12:00:01 JupyterHub web:1875] Uncaught exception POST /hub/api/users/a014/activity",
           "    Traceback (most recent call last):",
           "    sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked",
           "[E 12:00:01 JupyterHub log:192] 500 POST /hub/api/users/a014/activity (a014@172.18.0.9) 5003ms",
           "[I 12:00:02 JupyterHub log:192] 200 GET /hub/api (admin@1.2.3.4) 2ms"]
    context = loadtest.hub_5xx_context(log, before=3)
    assert context == [log[1:5]]
    assert loadtest.hub_5xx_context(log[:1] + log[-1:]) == []
