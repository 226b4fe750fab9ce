"""trd-cds benchmark: throughput, latency, memory, build time and CLI wall time.

A benchmark, not a test: it prints figures next to their targets (PASS/MISS) and always exits
0. Run it on an otherwise idle machine::

    python bench/bench.py                       # 10,000 generated cases, one pass
    python bench/bench.py --evaluations 100000  # RSS growth over 100,000 evaluations
    python bench/bench.py --json                # machine-readable
    python bench/bench.py --profile 2000        # + cProfile of 2,000 evaluations

What is measured (one process, one core, one Engine):

* **cases/s, p50/p99 latency**: ``Engine.evaluate(dict, at=...)`` end to end, validation
  included, over a fixed seeded mix of generated cases given as plain dicts (as a service
  would receive them); each call timed with ``time.perf_counter_ns``;
* **RSS growth**: resident set size (``/proc/self/statm``) after the timed run minus before it
  (after warm-up, ``gc.collect()`` at both ends; the latency buffer is preallocated);
* **peak RSS**: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end;
* **engine build**: ``Engine()`` (load + lint + compile the bundled rules), median of 3;
* **CLI**: wall time of ``trd-cds evaluate <example> --at ...`` in a subprocess, median of
  ``--cli-repeats`` runs with the ruleset cache warm (``cli_wall_s``, a private cache folder)
  and with it off (``cli_wall_nocache_s``), and the import time of ``trd_cds.cli``
  (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import compileall
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from trd_cds import CaseError, Engine, Report, parse_case
from trd_cds.schemas.case import (
    INSTRUMENT_RANGES,
    ClinicalFeatures,
    MedicationClass,
    PsychotherapyModality,
    TrialOutcome,
)

AT = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "01_trd_medication_and_therapy_failed.yaml"

TARGETS = {
    # name: (target, higher is better, unit)
    "decision_over_session": (0.7, True, "x"),
    "full_over_session": (0.4, True, "x"),
    "full_p99_ms": (2.0, False, "ms"),
    "rss_growth_mb": (5.0, False, "MB"),
    "cli_wall_s": (0.3, False, "s"),
    "help_wall_s": (0.15, False, "s"),
}

Json = dict[str, Any]

# --------------------------------------------------------------------------- case generator

DRUGS = {
    "ssri": ["sertraline", "citalopram", "escitalopram", "fluoxetine", "paroxetine"],
    "snri": ["venlafaxine", "duloxetine"],
    "tca": ["nortriptyline", "amitriptyline", "clomipramine"],
    "maoi": ["phenelzine", "tranylcypromine"],
    "other": ["mirtazapine", "bupropion", "vortioxetine", "agomelatine"],
}
# Vocabularies come from the case schema, so the generator cannot drift from it.
OUTCOMES = [o.value for o in TrialOutcome]
MEDICATION_CLASSES = [c.value for c in MedicationClass]
MODALITIES = [m.value for m in PsychotherapyModality]
RANGES = {inst.value: high for inst, (_, high) in INSTRUMENT_RANGES.items()}


class CaseGenerator:
    """Realistic TRD referrals as plain dicts, from a seeded ``random.Random``.

    The mix follows the branches of the rules: suicide-risk levels, psychosis, catatonia,
    bipolar and other diagnoses, pregnancy and breastfeeding, 0–6 antidepressant trials with
    adequate and inadequate courses and every outcome, psychotherapies, ECT, augmentation,
    TMS contraindications (complete, partial or missing screens), preferences and remission.
    """

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def p(self, probability: float) -> bool:
        return self.r.random() < probability

    def tri(self, p_true: float, p_recorded: float = 0.7) -> bool | None:
        """Tri-state: None (not recorded) / True / False."""
        if not self.p(p_recorded):
            return None
        return self.p(p_true)

    def date_between(self, first: date, last: date) -> str:
        span = max((last - first).days, 0)
        return (first + timedelta(days=self.r.randint(0, span))).isoformat()

    def case(self, index: int) -> Json:
        r = self.r
        sex = r.choices(["female", "male", "intersex", "unknown"], [55, 42, 1, 2])[0]
        age = r.randint(18, 85) if self.p(0.97) else r.randint(12, 17)
        patient: Json = {"id": f"MRN-{index:07d}", "age": age, "sex": sex}
        if sex != "male" and 16 <= age <= 48:
            patient["pregnant"] = self.p(0.06)
            patient["breastfeeding"] = self.p(0.04) and not patient["pregnant"]
        primary = r.choices(["mdd", "bipolar", "other"], [86, 8, 6])[0]
        diagnosis: Json = {
            "primary": primary,
            "psychotic_features": self.tri(0.07, 0.9),
            "catatonic_features": self.tri(0.02, 0.8),
            "not_eating_or_drinking": self.tri(0.02, 0.8),
        }
        state = r.choices(
            ["depressed", "partial_remission", "response_without_remission", "remission"],
            [76, 10, 6, 8],
        )[0]
        episode: Json = {"state": state, "prior_episodes": r.choice([None, 0, 1, 2, 3, 4, 6])}
        if self.p(0.6):
            episode["onset_date"] = self.date_between(date(2015, 1, 1), date(2026, 10, 1))
        else:
            episode["duration_months"] = r.randint(1, 120)
        if self.p(0.7):
            episode["baseline_severity"] = r.choice(["subsyndromal", "mild", "moderate", "severe"])
        if self.p(0.2):
            episode["current_severity"] = r.choice(["subsyndromal", "mild", "moderate", "severe"])
        case: Json = {
            "schema_version": "2",
            "case_id": f"bench-{index:07d}",
            "patient": patient,
            "diagnosis": diagnosis,
            "episode": episode,
            "measurements": self.measurements(state),
            "antidepressant_trials": self.ad_trials(),
            "psychotherapy_trials": self.psychotherapy_trials(),
            "ect_courses": self.ect_courses(),
            "augmentations": self.augmentations(),
            "current_medications": self.current_medications(),
            "suicide_risk": self.suicide_risk(),
            "comorbidities": {
                "anxiety_disorder": self.tri(0.4),
                "substance_use_disorder": self.tri(0.1),
                "alcohol_use_disorder": self.tri(0.1),
                "ptsd": self.tri(0.1),
                "trauma_history": self.tri(0.25),
                "personality_disorder": r.choice([None, "none", "none", "borderline", "other"]),
                "chronic_pain_or_illness": self.tri(0.2),
                "medical_comorbidity": self.tri(0.2),
                "seizure_history": self.tri(0.04),
            },
            "clinical_features": {
                name: self.tri(0.35, 0.5) for name in ClinicalFeatures.model_fields
            },
            "contraindications": self.contraindications(),
            "preferences": {
                "declines_medication": self.tri(0.1),
                "declines_ect": self.tri(0.3, 0.4),
                "prefers_psychotherapy": self.tri(0.3, 0.5),
            },
            "psychosocial": {
                name: self.tri(0.25, 0.5)
                for name in (
                    "grief",
                    "role_transition",
                    "interpersonal_dispute",
                    "social_isolation",
                )
            },
        }
        # optional sections are sometimes missing altogether, as in real files
        for key in ("clinical_features", "psychosocial", "preferences", "augmentations"):
            if self.p(0.15):
                del case[key]
        return case

    def measurements(self, state: str) -> list[Json]:
        r = self.r
        out: list[Json] = []
        for instrument, p_used in (
            ("phq9", 0.85),
            ("madrs", 0.4),
            ("hamd17", 0.2),
            ("qids_sr16", 0.1),
        ):
            if not self.p(p_used):
                continue
            top = RANGES[instrument]
            base = r.randint(top // 3, top)
            if state == "remission" or self.p(0.08):
                cur = r.randint(0, max(top // 7, 1))
            else:
                cur = max(0, min(top, base - r.randint(-3, base // 2 + 1)))
            base_date = self.date_between(date(2023, 1, 1), date(2025, 5, 31))
            # most current scores are recent (within score_current_max_days), some are stale
            recent = self.p(0.75)
            cur_date = self.date_between(
                date(2026, 10, 30) if recent else date(2025, 6, 1),
                date(2026, 11, 23) if recent else date(2026, 10, 20),
            )
            for timepoint, score, when in (
                ("baseline", base, base_date),
                ("current", cur, cur_date),
            ):
                if timepoint == "baseline" and self.p(0.2):
                    continue
                m: Json = {"instrument": instrument, "timepoint": timepoint, "score": score}
                if self.p(0.7):
                    m["date"] = when
                if instrument == "phq9" and self.p(0.8):
                    m["item9"] = min(score, r.choices([0, 1, 2, 3], [80, 12, 5, 3])[0])
                out.append(m)
        r.shuffle(out)
        return out

    def ad_trials(self) -> list[Json]:
        r = self.r
        out = []
        for _ in range(r.choices(range(7), [15, 20, 25, 18, 10, 7, 5])[0]):
            drug_class = r.choices(list(DRUGS), [45, 25, 12, 3, 15])[0]
            adequate_course = self.p(0.65)
            out.append(
                {
                    "drug": r.choice(DRUGS[drug_class]),
                    "drug_class": drug_class,
                    "dose_adequate": True if adequate_course else self.tri(0.5),
                    "weeks_at_dose": (
                        r.choice([4, 6, 8, 10, 12, 16])
                        if adequate_course
                        else r.choice([None, 1, 2, 3, 3.5, 5])
                    ),
                    "adherence": "good"
                    if adequate_course
                    else r.choice(["good", "partial", "poor", "unknown"]),
                    "outcome": r.choices(OUTCOMES, [40, 25, 8, 5, 15, 7, 3])[0],
                    "episode": "current" if self.p(0.85) else "previous",
                }
            )
        return out

    def psychotherapy_trials(self) -> list[Json]:
        r = self.r
        return [
            {
                "modality": r.choices(MODALITIES, [35, 5, 8, 8, 5, 4, 3, 10, 5, 12, 5])[0],
                "sessions": r.choice([4, 6, 8, 12, 16, 20]),
                "weeks": r.choice([4, 6, 8, 12, 16, 20.5]),
                "outcome": r.choices(OUTCOMES, [35, 30, 10, 8, 7, 10, 6])[0],
                "episode": "current" if self.p(0.8) else "previous",
            }
            for _ in range(r.choices(range(4), [40, 35, 18, 7])[0])
        ]

    def ect_courses(self) -> list[Json]:
        if not self.p(0.08):
            return []
        r = self.r
        return [
            {
                "laterality": r.choice(["bilateral", "right_unilateral", "bifrontal"]),
                "sessions": r.choice([None, 6, 8, 12]),
                "outcome": r.choices(OUTCOMES, [30, 25, 15, 20, 5, 5, 2])[0],
                "episode": r.choice(["current", "previous"]),
            }
        ]

    def augmentations(self) -> list[Json]:
        r = self.r
        agents = [
            "lithium",
            "second_generation_antipsychotic",
            "liothyronine",
            "lamotrigine",
            "second_antidepressant",
        ]
        out: list[Json] = []
        for _ in range(r.choices(range(3), [75, 20, 5])[0]):
            a: Json = {"agent": r.choice(agents), "episode": r.choice(["current", "previous"])}
            if self.p(0.5):
                a["outcome"] = r.choice(OUTCOMES)
            out.append(a)
        return out

    def current_medications(self) -> list[Json]:
        r = self.r
        out: list[Json] = []
        for _ in range(r.choices(range(3), [50, 40, 10])[0]):
            drug_class = r.choice(MEDICATION_CLASSES)
            m: Json = {
                "drug": r.choice(DRUGS.get(drug_class, ["quetiapine", "lithium"])),
                "drug_class": drug_class,
            }
            if self.p(0.6):
                m["dose_mg_per_day"] = float(r.choice([10, 20, 50, 100, 150, 300]))
            out.append(m)
        return out

    def suicide_risk(self) -> Json:
        r = self.r
        level = r.choices(["none", "low", "moderate", "high", "unscreened"], [55, 18, 10, 9, 8])[0]
        imminent = self.tri(0.03, 0.6)
        nssi: Json | None = None
        if self.p(0.06):
            nssi = (
                {"within_3_months": self.p(0.5)}
                if self.p(0.5)
                else {"last_date": self.date_between(date(2025, 1, 1), date(2026, 11, 20))}
            )
        if level == "unscreened":
            out: Json = {"clinician_judges_imminent_risk": imminent}
            if nssi:
                out["nssi"] = nssi
            return out
        cssrs: Json = {
            "wish_to_be_dead": level != "none",
            "active_suicidal_thoughts": False,
            "behaviour": False,
        }
        if level == "low":
            cssrs["active_suicidal_thoughts"] = self.p(0.4)
        elif level == "moderate":
            if self.p(0.5):
                cssrs.update(active_suicidal_thoughts=True, method=True, intent=False, plan=False)
            else:
                cssrs.update(behaviour=True, behaviour_within_3_months=False)
        elif level == "high":
            kind = r.choice(["intent", "plan", "recent_behaviour"])
            if kind == "recent_behaviour":
                cssrs["behaviour"] = True
                if self.p(0.5):
                    cssrs["behaviour_within_3_months"] = True
                else:
                    cssrs["last_behaviour_date"] = self.date_between(
                        date(2026, 9, 1), date(2026, 11, 20)
                    )
            else:
                cssrs.update(active_suicidal_thoughts=True, method=True, intent=True)
                cssrs["plan"] = kind == "plan"
        out = {"cssrs": cssrs, "clinician_judges_imminent_risk": imminent}
        if nssi:
            out["nssi"] = nssi
        return out

    def contraindications(self) -> Json:
        names = (
            "metal_in_or_near_head",
            "cochlear_implant",
            "implanted_stimulator",
            "cardiac_pacemaker_or_icd",
            "aneurysmal_vascular_disease",
            "arteriovenous_malformation",
            "intracerebral_haemorrhage_history",
        )
        screen = self.r.choices(["complete", "partial", "none"], [60, 25, 15])[0]
        if screen == "none":
            return {}
        p_recorded = 1.0 if screen == "complete" else 0.5
        return {name: self.tri(0.03, p_recorded) for name in names}


def generate(n: int, seed: int) -> list[Json]:
    gen = CaseGenerator(seed)
    return [gen.case(i) for i in range(n)]


# --------------------------------------------------------------------------- measurements


def rss_bytes() -> int:
    """Current resident set size (``/proc/self/statm``, Linux)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def measure_build(repeats: int = 3) -> Json:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        Engine()
        times.append(time.perf_counter() - t0)
    return {"engine_build_s": statistics.median(times), "engine_build_s_all": times}


def _timed_loop(call: Any, items: list[Any], evaluations: int) -> Json:
    """Time ``call(item)`` over ``evaluations`` items (cycling), one call at a time."""
    n = len(items)
    for item in items[: min(n, 300)]:  # warm-up: caches, allocator arenas
        call(item)
    latencies = array("q", bytes(8 * evaluations))  # preallocated: not counted as growth
    gc.collect()
    rss_before = rss_bytes()
    perf_ns = time.perf_counter_ns
    start = perf_ns()
    for i in range(evaluations):
        item = items[i % n]
        t0 = perf_ns()
        call(item)
        latencies[i] = perf_ns() - t0
    elapsed_ns = perf_ns() - start
    gc.collect()
    rss_after = rss_bytes()
    ordered = sorted(latencies)
    return {
        "evaluations": evaluations,
        "elapsed_s": elapsed_ns / 1e9,
        "cases_per_s": evaluations / (elapsed_ns / 1e9),
        "p50_ms": percentile(ordered, 50) / 1e6,
        "p90_ms": percentile(ordered, 90) / 1e6,
        "p99_ms": percentile(ordered, 99) / 1e6,
        "max_ms": ordered[-1] / 1e6,
        "mean_ms": statistics.fmean(latencies) / 1e6,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "rss_growth_mb": (rss_after - rss_before) / 2**20,
    }


def session_inputs(engine: Engine, cases: list[Json]) -> list[tuple[list[Json], str]]:
    """The facts each case asserts, computed outside the timing (for the session-alone path)."""
    from trd_cds.engine.assessments import assess
    from trd_cds.engine.facts import build_facts

    out = []
    for case in cases:
        model = parse_case(case)
        facts = build_facts(model, assess(model, AT.date(), engine.settings)).facts
        out.append((facts, model.case_id))
    return out


def measure_paths(engine: Engine, cases: list[Json], evaluations: int) -> Json:
    """(a) the durable_rules session alone on the same compiled rules and facts (the floor);
    (b) the decision path, ``Engine.evaluate`` from a dict (validation included; trace and
    why-not not asked for); (c) the full report, ``evaluate(...).to_json_bytes()``."""
    host = engine._host
    facts = session_inputs(engine, cases)
    session = _timed_loop(lambda item: host.run(*item), facts, evaluations)
    decision = _timed_loop(lambda c: engine.evaluate(c, at=AT), cases, evaluations)
    full = _timed_loop(lambda c: engine.evaluate(c, at=AT).to_json_bytes(), cases, evaluations)
    return {
        "session": session,
        "decision": decision,
        "full": full,
        "decision_over_session": decision["cases_per_s"] / session["cases_per_s"],
        "full_over_session": full["cases_per_s"] / session["cases_per_s"],
        "peak_rss_mb": peak_rss_bytes() / 2**20,
    }


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("trd-cds")
    if script.exists():
        return [str(script)]
    found = shutil.which("trd-cds")
    if found:
        return [found]
    return [sys.executable, "-c", "from trd_cds.cli import main; main()"]


def _time_cli(cmd: list[str], repeats: int, env: dict[str, str]) -> list[float] | str:
    """Wall times of ``repeats`` runs, or the error text of the first failing run."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return proc.stderr.decode(errors="replace")[-500:]
    return times


def measure_cli(repeats: int, example: Path) -> Json:
    """The one-case CLI with the ruleset cache warm (a private cache folder, filled by one
    untimed run first) and with the cache off (every run loads the rules afresh)."""
    cmd = [*cli_command(), "evaluate", str(example), "--at", AT.isoformat()]
    # Byte-compiled, as a regular install is (pip compiles on install; an editable install
    # compiles on first import, unless PYTHONDONTWRITEBYTECODE is set, as on the dev machine).
    compileall.compile_dir(str(ROOT), quiet=2, rx=re.compile(r"[/\\](\.venv|build|\.git)[/\\]"))
    with tempfile.TemporaryDirectory(prefix="trd-cds-bench-cache-") as cache:
        warm = {**os.environ, "TRD_CDS_CACHE_DIR": cache}
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=warm)
        times = _time_cli(cmd, repeats, warm)
    cold = _time_cli(cmd, repeats, {**os.environ, "TRD_CDS_CACHE_DIR": "off"})
    if isinstance(times, str) or isinstance(cold, str):
        error = times if isinstance(times, str) else cold
        return {"cli_error": error, "cli_wall_s": None}
    help_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([*cli_command(), "--help"], stdout=subprocess.DEVNULL, check=True)
        help_times.append(time.perf_counter() - t0)
    python_start = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python_start.append(time.perf_counter() - t0)
    return {
        "cli_command": " ".join(cmd),
        "cli_wall_s": statistics.median(times),
        "cli_wall_s_all": times,
        "cli_wall_nocache_s": statistics.median(cold),
        "help_wall_s": statistics.median(help_times),
        "python_startup_s": statistics.median(python_start),
    }


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")
IMPORT_GROUPS = (
    "pydantic",
    "click",
    "yaml",
    "durable",
    "trd_cds.schemas",
    "trd_cds.rules",
    "trd_cds.engine",
)


def measure_import(repeats: int) -> Json:
    """``python -X importtime -c 'import trd_cds.cli'``: total, key packages, heaviest modules."""
    runs: list[dict[str, tuple[int, int]]] = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import trd_cds.cli"],
            capture_output=True,
            text=True,
            check=True,
        )
        modules: dict[str, tuple[int, int]] = {}  # name -> (self us, cumulative us)
        for line in proc.stderr.splitlines():
            m = _IMPORTTIME.match(line)
            if m:
                name, own, cumulative = m.group(3), int(m.group(1)), int(m.group(2))
                old = modules.get(name, (0, 0))
                modules[name] = (max(old[0], own), max(old[1], cumulative))
        runs.append(modules)
    best = min(runs, key=lambda r: r.get("trd_cds.cli", (0, 0))[1])  # least noisy run
    heaviest = sorted(best.items(), key=lambda kv: -kv[1][0])[:8]
    wall = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import trd_cds.cli"], check=True)
        wall.append(time.perf_counter() - t0)
    return {
        "import_cli_ms": best.get("trd_cds.cli", (0, 0))[1] / 1000,
        "import_cli_wall_s": statistics.median(wall),
        "import_packages_ms": {g: best[g][1] / 1000 for g in IMPORT_GROUPS if g in best},
        "import_heaviest_self_ms": {k: v[0] / 1000 for k, v in heaviest},
    }


def measure_phases(engine: Engine, cases: list[Json]) -> Json:
    """Mean microseconds per phase, running the steps of ``Engine.evaluate`` one by one.

    Internal API (the engine's pipeline functions): if it moved, the split says so.
    """
    try:
        from trd_cds.engine.assessments import assess
        from trd_cds.engine.explain import Context
        from trd_cds.engine.facts import build_facts
        from trd_cds.engine.policy import apply
    except ImportError as exc:
        return {"error": f"engine internals moved: {exc}"}
    phases = [
        "parse_case",
        "assess",
        "build_facts",
        "durable_run",
        "policy",
        "decision_rest",
        "trace",
        "why_not",
        "to_json",
    ]
    totals = dict.fromkeys(phases, 0)
    perf_ns = time.perf_counter_ns
    index, host, settings = engine._index, engine._host, engine.settings
    for case in cases:
        t = [perf_ns()]
        model = parse_case(case)
        t.append(perf_ns())
        assessment = assess(model, AT.date(), settings)
        t.append(perf_ns())
        factset = build_facts(model, assessment)
        t.append(perf_ns())
        firings, derived = host.run(factset.facts, model.case_id)
        t.append(perf_ns())
        ctx = Context(index, factset, derived, firings)
        outcome = apply(ctx)
        t.append(perf_ns())
        data = engine._decision(model, AT, assessment, outcome, ctx)  # includes the plan
        t.append(perf_ns())
        data["trace"] = ctx.trace()
        t.append(perf_ns())
        data["why_not"] = ctx.why_not(outcome.recommended(), outcome.blocked_map)
        t.append(perf_ns())
        Report(data).to_json_bytes()
        t.append(perf_ns())
        for name, t0, t1 in zip(phases, t, t[1:], strict=False):
            totals[name] += t1 - t0
    return {k: v / len(cases) / 1000 for k, v in totals.items()}


def profile(engine: Engine, cases: list[Json], evaluations: int, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(evaluations):
        engine.evaluate(cases[i % len(cases)], at=AT)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------- report


def verdicts(figures: Json) -> list[Json]:
    rows = []
    for name, (target, higher_better, unit) in TARGETS.items():
        value = figures.get(name)
        ok: bool | None = None
        if value is not None:
            ok = value >= target if higher_better else value <= target
        rows.append(
            {
                "figure": name,
                "value": value,
                "target": f"{'>=' if higher_better else '<='} {target:g} {unit}",
                "result": "n/a" if ok is None else ("PASS" if ok else "MISS"),
            }
        )
    return rows


def mix_summary(cases: list[Json], engine: Engine) -> Json:
    """How often the generated mix reaches each branch (from 1,000 cases' reports)."""
    sample = cases[:1000]
    gates: dict[str, int] = {}
    recs: dict[str, int] = {}
    rules: set[str] = set()
    for case in sample:
        report = engine.evaluate(case, at=AT)
        for g in report.gates:
            gates[g.gate] = gates.get(g.gate, 0) + 1
        for r in report.recommendations:
            recs[r.option.value] = recs.get(r.option.value, 0) + 1
        rules.update(t.rule for t in report.trace)
    return {
        "sample": len(sample),
        "gates": dict(sorted(gates.items())),
        "distinct_recommended_options": len(recs),
        "rules_fired": len(rules),
        "rules_active": len(engine.ruleset.active),
    }


def print_text(result: Json) -> None:
    paths = result["paths"]
    ev = paths["full"]
    print(f"trd-cds benchmark  ({result['machine']})")
    print(
        f"  {ev['evaluations']:,} evaluations per path over {result['distinct_cases']:,} "
        f"generated cases (seed {result['seed']}), one core"
    )
    mix = result.get("mix")
    if mix:
        print(
            f"  mix: {mix['rules_fired']}/{mix['rules_active']} rules fire in the first "
            f"{mix['sample']} cases; gates {mix['gates']}"
        )
    print()
    print(f"  {'figure':<16} {'value':>12}   {'target':<18} result")
    for row in result["verdicts"]:
        value = row["value"]
        shown = "n/a" if value is None else f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
        print(f"  {row['figure']:<16} {shown:>12}   {row['target']:<18} {row['result']}")
    print()
    print(f"  {'path':<44} {'cases/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for key, label in (
        ("session", "(a) durable_rules session alone (floor)"),
        ("decision", "(b) decision path: evaluate(dict)"),
        ("full", "(c) full report: evaluate(dict).to_json()"),
    ):
        p = paths[key]
        print(f"  {label:<44} {p['cases_per_s']:>9,.0f} {p['p50_ms']:>8.3f} {p['p99_ms']:>8.3f}")
    print(
        f"  ratios: (b)/(a) {paths['decision_over_session']:.2f}, "
        f"(c)/(a) {paths['full_over_session']:.2f}"
    )
    print()
    print("  other figures")
    print(
        f"    RSS over (c) {ev['rss_before_mb']:.1f} MB -> {ev['rss_after_mb']:.1f} MB "
        f"(growth {ev['rss_growth_mb']:+.2f} MB), peak RSS {paths['peak_rss_mb']:.1f} MB"
    )
    b = result["build"]
    print(
        f"    engine build (load + lint + compile) median {b['engine_build_s'] * 1000:.0f} ms "
        f"of {[round(t * 1000) for t in b['engine_build_s_all']]}"
    )
    cli = result["cli"]
    if cli.get("cli_wall_s") is not None:
        print(
            f"    CLI one case: median {cli['cli_wall_s'] * 1000:.0f} ms of "
            f"{[round(t * 1000) for t in cli['cli_wall_s_all']]} "
            f"(bare python startup {cli['python_startup_s'] * 1000:.0f} ms); "
            f"--help {cli['help_wall_s'] * 1000:.0f} ms"
        )
        print(
            f"    CLI one case without the ruleset cache (TRD_CDS_CACHE_DIR=off): median "
            f"{cli['cli_wall_nocache_s'] * 1000:.0f} ms"
        )
    else:
        print(f"    CLI failed: {cli.get('cli_error')}")
    imp = result["import"]
    print(
        f"    import trd_cds.cli: {imp['import_cli_ms']:.0f} ms (-X importtime), "
        f"{imp['import_cli_wall_s'] * 1000:.0f} ms wall incl. startup"
    )
    packages = ", ".join(f"{k} {v:.0f}" for k, v in imp["import_packages_ms"].items())
    print(f"    imports, cumulative ms: {packages}")
    heavy = ", ".join(f"{k} {v:.1f}" for k, v in imp["import_heaviest_self_ms"].items())
    print(f"    heaviest modules, self ms: {heavy}")
    phases = result.get("phases")
    if phases and "error" not in phases:
        total = sum(phases.values())
        print(f"  evaluate phases (mean us/case over {result['phases_cases']} cases)")
        for name, us in phases.items():
            print(f"    {name:<18} {us:8.1f} us  {100 * us / total:5.1f} %")
    elif phases:
        print(f"  phase split unavailable: {phases['error']}")
    print(
        f"    report JSON size: median {result['report_bytes_median'] / 1000:.1f} kB, "
        f"Report.to_json() {result['to_json_us']:.0f} us/report"
    )
    if not result["corpus_frozen"]:
        print("    (corpus not frozen: gen-2 GC pauses over the 10k input dicts show in p99)")
    if result.get("invalid_generated"):
        print(f"  WARNING: {result['invalid_generated']} generated cases were invalid")
    if result.get("profile"):
        print()
        print(result["profile"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="distinct generated cases")
    parser.add_argument(
        "--evaluations",
        type=int,
        default=None,
        help="timed evaluations (cycling over the cases); default: one pass over --cases",
    )
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cli-repeats", type=int, default=5)
    parser.add_argument("--example", type=Path, default=EXAMPLE, help="case file for the CLI run")
    parser.add_argument(
        "--phases",
        type=int,
        default=1000,
        metavar="N",
        help="split evaluate into phases over N cases (0: skip)",
    )
    parser.add_argument(
        "--no-freeze-corpus",
        action="store_true",
        help="leave the generated input dicts to the garbage collector (by default they are "
        "gc.freeze()-d: a service does not hold 10,000 cases, and full collections over them "
        "would dominate the tail latency)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also cProfile N evaluations and print the top functions",
    )
    args = parser.parse_args(argv)
    evaluations = args.evaluations or args.cases

    cases = generate(args.cases, args.seed)
    invalid = 0
    for case in cases:
        try:
            parse_case(case)
        except CaseError:
            invalid += 1

    if not args.no_freeze_corpus:
        gc.collect()
        gc.freeze()  # the input corpus (and the imported modules) leave the GC generations

    build = measure_build()
    engine = Engine()
    paths = measure_paths(engine, cases, evaluations)
    sizes = []
    to_json_ns = 0
    for case in cases[:500]:  # one report alive at a time: a heap of reports slows the GC
        report = engine.evaluate(case, at=AT)
        t0 = time.perf_counter_ns()
        sizes.append(len(report.to_json()))
        to_json_ns += time.perf_counter_ns() - t0
    to_json_us = to_json_ns / len(sizes) / 1000
    result: Json = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs",
        "seed": args.seed,
        "invalid_generated": invalid,
        "corpus_frozen": not args.no_freeze_corpus,
        "paths": paths,
        "distinct_cases": len(cases),
        "build": build,
        "mix": mix_summary(cases, engine),
        "cli": measure_cli(args.cli_repeats, args.example),
        "import": measure_import(args.cli_repeats),
    }
    result["report_bytes_median"] = statistics.median(sizes)
    result["to_json_us"] = to_json_us
    if args.phases:
        result["phases_cases"] = min(args.phases, len(cases))
        gc.collect()
        result["phases"] = measure_phases(engine, cases[: args.phases])
    figures = {
        "decision_over_session": paths["decision_over_session"],
        "full_over_session": paths["full_over_session"],
        "full_p99_ms": paths["full"]["p99_ms"],
        "rss_growth_mb": paths["full"]["rss_growth_mb"],
        "cli_wall_s": result["cli"].get("cli_wall_s"),
        "help_wall_s": result["cli"].get("help_wall_s"),
    }
    result["verdicts"] = verdicts(figures)
    if args.profile:
        result["profile"] = profile(engine, cases, args.profile)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    return 0  # a benchmark reports; it never fails the process on a miss


if __name__ == "__main__":
    sys.exit(main())
