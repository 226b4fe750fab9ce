"""durable_rules host handling: compile once, run one isolated session per case.

This is the only module that touches durable_rules. Every fence of DESIGN.md ("known behaviour
the engine must fence") is implemented here or in ``facts``:

1. state is deleted after every case (``finally``), so live sessions never accumulate;
2. one live session per host at a time (a lock); the session id is fixed and the state is
   gone before the next case starts, so facts of two cases can never join;
3. fact ids come from a fixed vocabulary (``facts.fact_id_vocabulary``, collision-tested);
4. a never-firing sink rule handles every fact, so no ``MessageNotHandledException``;
5. action exceptions are captured by our own action wrapper and raised to the caller as
   :class:`EvaluationError` (and ``state['exception']`` is checked as well);
6. facts carry typed values only (``facts.coerce``);
7. duplicate firings (``$or`` fires once per true branch) are de-duplicated;
8. ``none(...)`` is refused by the linter: absence is computed in Python;
9. blocks are applied after firing by the conflict policy, never by retraction;
10. nothing depends on firing order: firings are sorted before use;
11. arithmetic is refused by the linter;
12. rule definitions are deep-copied before registration (durable deletes ``run``);
13. the host starts no background timer threads, and facts are asserted synchronously;
14. ``BaseException`` raised in an action (Ctrl-C, SystemExit) is re-raised after cleanup.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from durable import engine as durable_engine

from ..schemas.errors import EngineError, EvaluationError

SESSION_ID = "case"
RULESET_NAME = "trd"
SINK_RULE = "zz__sink"
_SINK_FIELD = "zz__never_present"


class SyncHost(durable_engine.Host):  # type: ignore[misc]
    """A durable_rules ``Host`` that starts no background dispatch/timer threads (#13).

    ``Host.__init__`` calls ``_run``, which starts two self-rescheduling ``threading.Timer``
    loops that dispatch queued actions and timers. This engine asserts facts synchronously and
    never posts events or starts timers, so those loops are not needed, and without them no
    action can fire outside the caller's ``evaluate`` call.
    """

    def _run(self) -> None:
        return None


class Firing(NamedTuple):
    """One rule firing: the rule and the fact each of its patterns matched."""

    rule_id: str
    matches: tuple[tuple[str, str], ...]  # (pattern name, fact id), sorted


class _Run:
    """Per-evaluation collector; lives only while the session lock is held."""

    def __init__(self) -> None:
        self.firings: list[Firing] = []
        self.seen: set[Firing] = set()
        self.derived: dict[str, dict[str, Any]] = {}
        self.error: BaseException | None = None
        self.error_rule: str | None = None


#: The fact a rule's action asserts when it fires (derive/gate rules), as (fact id, fact).
Derived = tuple[str, dict[str, Any]] | None


class RuleHost:
    """Owns one durable_rules host with one compiled ruleset."""

    def __init__(self, definitions: dict[str, tuple[dict[str, Any], Derived]]) -> None:
        """``definitions``: rule id -> (condition ``{"all": [...]}``, fact it asserts)."""
        self._lock = threading.Lock()
        self._run: _Run | None = None
        compiled: dict[str, Any] = {}
        for name, (condition, derived) in definitions.items():
            body = copy.deepcopy(condition)  # fence #12: registration mutates the dict
            body["run"] = self._action(name, derived)
            compiled[name] = body
        compiled[SINK_RULE] = {  # fence #4: every fact is handled, nothing ever fires
            "all": [{"m": {"$nex": {_SINK_FIELD: 1}}}, {"never": {"$ex": {_SINK_FIELD: 1}}}],
            "run": self._sink,
        }
        try:
            self._host = SyncHost({RULESET_NAME: compiled})
        except Exception as exc:
            raise EngineError(f"durable_rules refused the ruleset: {exc}") from exc

    # ------------------------------------------------------------------ actions

    def _sink(self, c: Any) -> None:  # pragma: no cover - must never fire
        raise EvaluationError("the sink rule fired: a fact carried the reserved sink field")

    def _action(self, name: str, derived: Derived) -> Callable[[Any], None]:
        def action(c: Any) -> None:
            run = self._run
            if run is None or run.error is not None:
                return
            try:
                self._record(run, name, c._m)
                if derived is not None:
                    fact_id, fact = derived
                    if fact_id not in run.derived:
                        fact = {**fact, "id": fact_id, "sid": SESSION_ID}
                        run.derived[fact_id] = fact
                        c.assert_fact(dict(fact))
            except BaseException as exc:  # fence #5/#14: durable would swallow it
                run.error = exc
                run.error_rule = name

        return action

    @staticmethod
    def _record(run: _Run, name: str, matched: dict[str, Any]) -> None:
        firing = Firing(name, tuple(sorted((p, str(f["id"])) for p, f in matched.items())))
        if firing not in run.seen:  # fence #7
            run.seen.add(firing)
            run.firings.append(firing)

    # ------------------------------------------------------------------ evaluation

    def run(
        self, facts: list[dict[str, Any]], case_id: str
    ) -> tuple[list[Firing], dict[str, dict[str, Any]]]:
        """Assert ``facts`` in a fresh session; return the firings and the derived facts."""
        batch = [{**f, "sid": SESSION_ID} for f in facts]
        with self._lock:  # fence #2: one live session per host
            run = self._run = _Run()
            try:
                try:
                    self._host.assert_facts(RULESET_NAME, batch)
                    state = self._host.get_state(RULESET_NAME, SESSION_ID)
                except (
                    durable_engine.MessageNotHandledException,
                    durable_engine.MessageObservedException,
                ) as exc:
                    raise EngineError(
                        f"durable_rules did not accept the facts: {exc.message}", case_id=case_id
                    ) from exc
                except Exception as exc:  # durable_rules_engine.error and friends
                    if run.error is not None:
                        raise self._wrapped(run, case_id) from run.error
                    raise EngineError(f"durable_rules failed: {exc}", case_id=case_id) from exc
                if run.error is not None:
                    raise self._wrapped(run, case_id) from run.error
                if "exception" in state:  # fence #5, belt and braces
                    raise EngineError(
                        f"a rule action failed inside durable_rules: {state['exception']}",
                        case_id=case_id,
                    )
                firings = sorted(run.firings, key=lambda f: (f.rule_id, f.matches))  # fence #10
                return firings, run.derived
            finally:
                self._run = None
                self._delete_state()  # fence #1

    def _wrapped(self, run: _Run, case_id: str) -> BaseException:
        error = run.error
        assert error is not None
        if not isinstance(error, Exception):
            return error  # KeyboardInterrupt / SystemExit go up as they are (fence #14)
        if isinstance(error, EvaluationError):
            return error
        return EvaluationError(
            f"rule action failed: {type(error).__name__}: {error}",
            case_id=case_id,
            rule_id=run.error_rule,
        )

    def _delete_state(self) -> None:
        with contextlib.suppress(Exception):  # no state left is the goal
            self._host.delete_state(RULESET_NAME, SESSION_ID)

    def has_state(self) -> bool:
        """Whether a session is live (for the leak regression tests)."""
        try:
            self._host.get_state(RULESET_NAME, SESSION_ID)
        except Exception:
            return False
        return True

    def live_facts(self) -> list[dict[str, Any]]:
        try:
            facts: list[dict[str, Any]] = self._host.get_facts(RULESET_NAME, SESSION_ID)
        except Exception:
            return []
        return facts
