"""``aupimo drift``: KS against scipy and a brute force, PSI against a hand computation, an injected shift
flagged on the right series and period, the share of false flags at 2 and 3 sigma, and the command end to end
(outputs, manifest, exit 4, each map read once, errors, the report page)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import tifffile

from aupimo_cli.cli import app
from aupimo_cli.metrics.drift import PSI_EPSILON, drift_table, period_stats, psi

from .conftest import invoke


def ks_brute_force(first: np.ndarray, second: np.ndarray) -> float:
    """max |F1(x) - F2(x)| over every observed x, the empirical CDFs counted directly."""
    points = np.concatenate([first, second])
    return max(abs(np.mean(first <= x) - np.mean(second <= x)) for x in points)


def test_ks_is_scipys_and_the_brute_force():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 300)
    for shift, size in ((0.0, 50), (0.4, 120), (1.5, 7)):
        scores = rng.normal(shift, 1, size).round(2)  # ties too
        stats = period_stats("p", "run", scores, reference, hard=1.0, soft=0.5)
        expected = scipy.stats.ks_2samp(scores, reference)
        assert stats.ks_statistic == expected.statistic and stats.ks_pvalue == expected.pvalue
        assert abs(stats.ks_statistic - ks_brute_force(scores, reference)) < 1e-12


def test_psi_by_hand():
    reference = np.arange(1.0, 11.0)  # deciles 1.9, 2.8, ..., 9.1: one reference score per bin, p = 0.1
    scores = np.array([1.0, 1.0, 2.0, 5.0, 20.0])  # bins 0, 0, 1 (1.9 < 2 <= 2.8), 4 (4.6 < 5 <= 5.5), 9
    q = {0: 0.4, 1: 0.2, 4: 0.2, 9: 0.2}
    by_hand = sum((q[i] - 0.1) * np.log(q[i] / 0.1) for i in q) + 6 * (PSI_EPSILON - 0.1) * np.log(PSI_EPSILON / 0.1)
    assert abs(psi(reference, scores) - by_hand) < 1e-12
    # A score on an edge falls in the bin the edge closes: 2.8 in bin 1 with 2.0.
    assert abs(psi(reference, np.array([2.0, 2.8])) - psi(reference, np.array([2.0, 2.0]))) < 1e-15


def test_period_figures_by_hand():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    stats = period_stats("p", "run", scores, np.array([0.0, 1.0, 2.0]), hard=4.0, soft=2.5)
    assert (stats.num_parts, stats.mean_score, stats.reject_rate, stats.review_rate) == (5, 3.0, 0.4, 0.2)
    assert stats.p95_score == pytest.approx(4.8, abs=1e-12)  # numpy's linear interpolation
    assert period_stats("p", "run", scores, scores, hard=4.0, soft=None).review_rate is None


def periods(rng: np.random.Generator, count: int, parts: int = 200, start: int = 0) -> list[tuple[str, np.ndarray]]:
    return [(f"day{start + i:02d}", rng.normal(2.0, 0.3, parts)) for i in range(count)]


def test_a_shift_is_flagged_on_the_right_series_and_period():
    """20 baseline and 20 run periods of 200 parts (seed 0); one run period shifted by one score std. Without
    the shift this case flags nothing at 3 sigma (a fixed case: the share of false flags is the next test's)."""
    rng = np.random.default_rng(0)
    baseline = periods(rng, 20)
    runs = periods(rng, 20, start=20)
    quiet = drift_table(baseline, runs, hard=2.6, soft=2.3, sigma=3.0)
    assert not any(period.flagged for period in quiet.periods) and not quiet.last_flagged
    runs[12] = (runs[12][0], runs[12][1] + 0.3)  # day32: every score up by one score std
    table = drift_table(baseline, runs, hard=2.6, soft=2.3, sigma=3.0)
    flagged = {period.name: period.flagged for period in table.periods if period.flagged}
    assert set(flagged) == {"day32"}
    assert {"mean_score", "p95_score", "reject_rate", "ks_statistic", "psi"} <= set(flagged["day32"])
    assert [period.role for period in table.periods] == ["baseline"] * 20 + ["run"] * 20


def test_the_share_of_false_flags_is_the_expected_one():
    """Without drift, a period's mean score is normal, so with n baseline periods (mean m, std s, ddof 1),
    (x - m) / (s sqrt(1 + 1/n)) follows Student's t with n - 1 degrees of freedom: the share of periods flagged
    at k sigma is 2 P(t_{n-1} > k / sqrt(1 + 1/n)): 8.9 % at 2 sigma and 1.9 % at 3 sigma for n = 10 (not the
    4.6 % and 0.3 % of a known sigma). Over 300 independent baselines with 5 runs each, the observed shares on
    the mean-score series are within 5 binomial standard deviations of these."""
    rng = np.random.default_rng(11)
    n, trials, runs_per_trial = 10, 300, 5
    flags = {2.0: 0, 3.0: 0}
    for _ in range(trials):
        baseline = periods(rng, n, parts=50)
        runs = periods(rng, runs_per_trial, parts=50, start=n)
        for sigma in flags:
            table = drift_table(baseline, runs, hard=2.6, sigma=sigma)
            flags[sigma] += sum("mean_score" in period.flagged for period in table.periods)
    total = trials * runs_per_trial
    for sigma, count in flags.items():
        expected = 2 * scipy.stats.t.sf(sigma / np.sqrt(1 + 1 / n), df=n - 1)
        tolerance = 5 * np.sqrt(expected * (1 - expected) / total)
        assert abs(count / total - expected) < tolerance, (sigma, count / total, expected)
    assert 2 * scipy.stats.t.sf(2 / np.sqrt(1.1), df=9) == pytest.approx(0.0887, abs=5e-4)


def test_fewer_than_two_baseline_periods_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 2 baseline periods"):
        drift_table(periods(rng, 1), periods(rng, 3), hard=2.6)


# ---------------------------------------------------------------------------------------------------------------
# the command


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prod/<date>/ folders of 40 maps (24x24 float32 TIFF); 2026-11-14 shifted; thresholds from a validation
    set of 60 maps, resized to 48x48."""
    root = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(3)

    def period(folder: Path, count: int, shift: float = 0.0) -> None:
        folder.mkdir(parents=True)
        for i in range(count):
            tifffile.imwrite(folder / f"{i:03d}.tiff", (rng.normal(0, 1, (24, 24)) + shift).astype(np.float32))

    period(root / "val" / "good", 60)
    for day in range(1, 9):
        period(root / "prod" / f"2026-11-{day:02d}", 40)
    for day in range(10, 16):
        period(root / "prod" / f"2026-11-{day:02d}", 40, shift=1.0 if day == 14 else 0.0)
    code, _, stderr = invoke(app, "calibrate", root / "val", "--resolution", "48x48", "--frr", "0.05", "--soft-frr",
                             "0.2", "--out", root / "thresholds.json", "-q")  # fmt: skip
    assert code == 0, stderr
    return root


def drift(root: Path, out: Path, *extra: object) -> tuple[int, str, str]:
    return invoke(app, "drift", "--baseline", f"{root}/prod/2026-11-0*", "--runs", f"{root}/prod/2026-11-1*",
                  "--thresholds", root / "thresholds.json", "--out", out, "--sigma", "3", *extra)  # fmt: skip


def test_the_command_flags_the_shifted_day_and_writes_its_files(production, tmp_path, monkeypatch):
    import aupimo_cli.io.readers as readers

    reads: list[Path] = []
    original = readers.read_map
    monkeypatch.setattr(readers, "read_map", lambda path, *a, **k: (reads.append(path), original(path, *a, **k))[1])
    out = tmp_path / "drift"
    code, stdout, stderr = drift(production, out)
    assert code == 0, stderr
    assert len(reads) == len(set(reads)) == 14 * 40  # each map read once
    record = json.loads((out / "drift.json").read_text())
    flagged = {p["period"]: p["flagged"] for p in record["periods"] if p["flagged"]}
    # The shifted day on every series but the review rate; a healthy day at most on a stray one or two (the
    # share of such false flags is test_the_share_of_false_flags_is_the_expected_one's).
    assert {"mean_score", "p95_score", "reject_rate", "ks_statistic", "psi"} <= set(flagged["2026-11-14"])
    assert all(len(series) <= 2 for day, series in flagged.items() if day != "2026-11-14"), flagged
    assert [p["period"] for p in record["periods"]][:3] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert record["resolution"] == "48x48" and record["rule"]["psi_epsilon"] == PSI_EPSILON
    assert "2026-11-14" in stdout
    assert "**" in (out / "drift.md").read_text() and "⚠" in (out / "drift.md").read_text()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["drift.csv", "drift.json", "drift.md", "drift.png", "drift.svg", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "drift" and sorted(manifest["files"]) == names
    first = {name: (out / name).read_bytes() for name in names}
    # The same bytes again, only with --overwrite; the last period (11-15) is not flagged: exit 0 even so.
    code, _, stderr = drift(production, out)
    assert code == 2 and "--overwrite" in stderr
    code, _, stderr = drift(production, out, "--overwrite", "--fail-on-drift")
    assert code == 0, stderr
    assert {name: (out / name).read_bytes() for name in names} == first
    # The report shows it.
    code, _, stderr = invoke(app, "report", out)
    assert code == 0, stderr
    html = (out / "report.html").read_text()
    assert "2026-11-14" in html and "⚠" in html and "data:image/svg+xml;base64," in html


def test_fail_on_drift_exits_4_when_the_last_period_is_flagged(production, tmp_path):
    code, _, stderr = invoke(app, "drift", "--baseline", f"{production}/prod/2026-11-0*", "--runs",
                             f"{production}/prod/2026-11-1[0-4]", "--thresholds", production / "thresholds.json",
                             "--out", tmp_path / "d", "--sigma", "3", "--fail-on-drift", "-q")  # fmt: skip
    assert code == 4 and "the last period, 2026-11-14, is flagged" in " ".join(stderr.split())
    assert (tmp_path / "d" / "drift.csv").is_file()  # written first


def test_clear_errors(production, tmp_path):
    thresholds = production / "thresholds.json"
    later = f"{production}/prod/2026-11-1*"

    def run(baseline: object, runs: object, saved: Path = thresholds) -> tuple[int, str]:
        code, _, stderr = invoke(app, "drift", "--baseline", baseline, "--runs", runs, "--thresholds", saved, "--out",
                                 tmp_path / "d")  # fmt: skip
        return code, " ".join(stderr.split())

    code, stderr = run(production / "prod" / "2026-11-01", later)
    assert code == 2 and "at least 2 baseline periods" in stderr
    code, stderr = run(f"{production}/prod/nothing-*", later)
    assert code == 2 and "no folder matches" in stderr
    code, stderr = run(f"{production}/prod/2026-11-0*", f"{production}/prod/2026-11-0[12]")
    assert code == 2 and "both --baseline and --runs" in stderr
    record = json.loads(thresholds.read_text())
    record["validation"]["resolution"] = "the validation masks'"
    (tmp_path / "t.json").write_text(json.dumps(record))
    code, stderr = run(f"{production}/prod/2026-11-0*", later, tmp_path / "t.json")
    assert code == 2 and "--resolution HxW" in stderr
    assert not (tmp_path / "d").exists()
