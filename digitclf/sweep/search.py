"""Search strategies: which points a sweep runs, batch after batch, and which one it selects.

A strategy gives the first batch of point values, then each next batch from the rows of the one
before (successive halving keeps the best third and raises the resource; Optuna asks for new
trials once it is told the last results); ``None`` ends the search.  Draws take the config's seed:
random draws are scikit-learn's ``ParameterSampler`` over scipy.stats distributions, the same
sampler ``RandomizedSearchCV`` and ``HalvingRandomSearchCV`` use.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitclf.errors import ConfigError, RunError
from digitclf.observers import RunObserver

if TYPE_CHECKING:
    from digitclf.config import HalvingSettings
    from digitclf.records import PointRow

Values = dict[str, Any]


def distributions(space: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """``sweep.space`` as scikit-learn's ``param_distributions``: a list for ``choice``, scipy.stats otherwise
    (``int: [low, high]`` includes both ends)."""
    from scipy import stats

    out: dict[str, Any] = {}
    for key, spec in space.items():
        (kind, args), = spec.items()
        if kind == "choice":
            out[key] = list(args)
        elif kind == "uniform":
            out[key] = stats.uniform(args[0], args[1] - args[0])
        elif kind == "loguniform":
            out[key] = stats.loguniform(args[0], args[1])
        else:
            out[key] = stats.randint(args[0], args[1] + 1)
    return out


def draw(space: dict[str, dict[str, list[Any]]], n: int, seed: int) -> list[Values]:
    """``n`` seeded draws from ``space`` (fewer when it has only ``choice`` entries with fewer combinations:
    then each combination once), keys in the order the space declares them, plain Python values."""
    from sklearn.model_selection import ParameterSampler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the total space ... is smaller than n_iter"
        sampled = list(ParameterSampler(distributions(space), n, random_state=seed))
    return [{key: _plain(values[key]) for key in space} for values in sampled]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict, str)) else value


MAX_POINTS = 10_000  # points one sweep may plan (a grid's combinations, a search's trials)


def expand(grid: dict[str, list[Any]], variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every grid combination, once per variant (the grid alone, or the variants alone, also work)."""
    for n, variant in enumerate(variants, 1):
        both = sorted(set(variant) & set(grid))
        if both:
            raise ConfigError(f"sweep.variants[{n}]: {', '.join(both)} is also swept by the grid; "
                              "a key is either in the grid or set per variant")
    count = math.prod(len(values) for values in grid.values()) * max(len(variants), 1)
    if count > MAX_POINTS:  # every point is checked before any runs (a few ms each): refuse before expanding
        sizes = " x ".join(str(len(values)) for values in grid.values())
        per = f" x {len(variants)} variants" if variants else ""
        raise ConfigError(f"the sweep has {count:,} points ({sizes}{per}); at most {MAX_POINTS:,} are allowed: "
                          "sweep fewer values, or draw points with --search random --trials N")
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    return [{**combo, **variant} for variant in (variants or [{}]) for combo in combos]


def best_row(rows: list["PointRow"]) -> "PointRow | None":
    """The complete row with the highest accuracy (the first such point on a tie); a pruned trial never wins."""
    complete = [row for row in rows if row.status == "complete" and row.accuracy is not None and not row.pruned]
    return max(complete, key=lambda row: (row.accuracy, -row.index), default=None)


@dataclass
class Search:
    """A grid (every combination once) or a random search (``trials`` draws): one batch."""

    name: str
    values: list[Values]

    def first(self) -> list[Values]:
        return self.values

    def next(self, rows: list["PointRow"]) -> list[Values] | None:
        """The next batch given the rows of the last one, or None when the search is finished."""
        return None

    def best(self, rows: list["PointRow"]) -> "PointRow | None":
        """The point the search selects among every row."""
        return best_row(rows)

    def describe(self) -> str:
        return f"{self.name} search, {len(self.values)} points"

    def refit_drops(self) -> tuple[str, ...]:
        """Keys the selected point's refit leaves at the base config's value (halving's training-set size)."""
        return ()

    def point_overrides(self) -> tuple[str, ...]:
        """Settings every point of the search gets (Optuna's pruning needs each trial's curve)."""
        return ()

    def trial_link(self, values: Values) -> "TrialLink | None":
        """Where the point's fit reports its curve, to be pruned (None: it is not a trial that can be pruned)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"search": self.name}


# ---------------------------------------------------------------- successive halving


@dataclass(frozen=True)
class HalvingSchedule:
    """Resources and candidates per rung, as scikit-learn's ``HalvingRandomSearchCV`` computes them
    (``n_resources_``, ``n_candidates_``; ``aggressive_elimination=False``)."""

    n_resources: list[int]
    n_candidates: list[int]


def halving_schedule(n_candidates: int, min_resources: int, max_resources: int, factor: int) -> HalvingSchedule:
    """The rungs for ``n_candidates`` first-rung points (scikit-learn's ``_run_search`` arithmetic)."""
    n_required = 1 + math.floor(math.log(n_candidates, factor))
    n_possible = 1 + math.floor(math.log(max_resources // min_resources, factor))
    rungs = min(n_possible, n_required)
    resources = [min(int(factor ** rung * min_resources), max_resources) for rung in range(rungs)]
    candidates = [n_candidates]
    for _ in range(rungs - 1):
        candidates.append(math.ceil(candidates[-1] / factor))
    return HalvingSchedule(resources, candidates)


@dataclass
class HalvingSearch(Search):
    """Successive halving: every candidate at the smallest resource, then the best 1/factor at factor times it."""

    settings: "HalvingSettings | None" = None
    schedule: HalvingSchedule = field(default_factory=lambda: HalvingSchedule([], []))
    rung: int = 0
    last: list["PointRow"] = field(default_factory=list)

    def first(self) -> list[Values]:
        return self._at(self.values, 0)

    def _at(self, candidates: list[Values], rung: int) -> list[Values]:
        key = self.settings.resource
        return [{**{k: v for k, v in c.items() if k != key}, key: self.schedule.n_resources[rung]}
                for c in candidates]

    def next(self, rows: list["PointRow"]) -> list[Values] | None:
        import numpy as np

        self.last = rows
        if self.rung + 1 >= len(self.schedule.n_resources):
            return None
        keep = math.ceil(len(rows) / self.settings.factor)
        scores = np.array([row.accuracy if row.status == "complete" and row.accuracy is not None else np.nan
                           for row in rows])
        # scikit-learn's _top_k: failed points (NaN) sort first, the best k are the last k
        order = np.roll(np.argsort(scores), np.count_nonzero(np.isnan(scores)))
        self.rung += 1
        return self._at([rows[i].values for i in order[-keep:]], self.rung)

    def best(self, rows: list["PointRow"]) -> "PointRow | None":
        """The best point of the last rung (scikit-learn's ``best_index_``)."""
        last = {row.index for row in self.last}
        return best_row([row for row in rows if row.index in last])

    def refit_drops(self) -> tuple[str, ...]:
        """The winner is refit on the whole training part, as scikit-learn refits on all samples."""
        return (self.settings.resource,) if self.settings.resource == "split.train_size" else ()

    def describe(self) -> str:
        s = self.schedule
        rungs = ", ".join(f"{c} at {r}" for c, r in zip(s.n_candidates, s.n_resources))
        return f"halving search over {self.settings.resource} (factor {self.settings.factor}): {rungs}"

    def to_dict(self) -> dict[str, Any]:
        return {"search": self.name, "resource": self.settings.resource, "factor": self.settings.factor,
                "n_resources": self.schedule.n_resources, "n_candidates": self.schedule.n_candidates}


def make_search(section: Any, seed: int, folder: Path | None = None, jobs: int = 1) -> Search:
    """The strategy a ``sweep:`` section describes (``expand`` for a grid, ``draw`` for random and halving;
    an Optuna study in ``folder``, the sweep's folder, asked for ``jobs`` trials at a time)."""
    if section.search == "grid":
        if section.space:
            raise ConfigError("sweep.space: a grid runs sweep.grid's values; draw from space: with "
                              "search: random, halving or optuna (or --search random)")
        return Search("grid", expand({str(k): v for k, v in section.grid.items()}, section.variants))
    if section.variants:
        raise ConfigError(f"sweep.variants: only a grid runs variants; search: {section.search} draws points "
                          "from sweep.space (put the variants' keys there as {choice: [...]})")
    space = {**{str(k): {"choice": v} for k, v in section.grid.items()}, **section.space}
    if not space:
        raise ConfigError(f"sweep.space: search: {section.search} needs a space to draw from, e.g. "
                          "space: {model.params.C: {loguniform: [0.001, 100]}}")
    if section.search == "halving":
        settings = section.halving
        if settings is None:
            raise ConfigError("sweep.halving: search: halving needs its resource, e.g. halving: {resource: "
                              "split.train_size, min_resources: 500, max_resources: 8000, factor: 3}")
        if settings.resource in space:
            raise ConfigError(f"sweep.halving.resource: {settings.resource} is also in sweep.space; the resource "
                              "is set by the rungs, remove it from the space")
        n = section.trials or settings.max_resources // settings.min_resources
        if n > MAX_POINTS:
            raise ConfigError(f"sweep.trials: halving would draw {n:,} first-rung points; at most {MAX_POINTS:,} "
                              "are allowed: give sweep.trials (or --trials), or raise halving.min_resources")
        candidates = draw(space, n, seed)
        schedule = halving_schedule(len(candidates), settings.min_resources, settings.max_resources, settings.factor)
        return HalvingSearch("halving", candidates, settings, schedule)
    if section.trials is None:
        raise ConfigError(f"sweep.trials: search: {section.search} needs a number of trials, e.g. trials: 16 "
                          "(or --trials 16)")
    if section.search == "optuna":
        return OptunaSearch("optuna", [], space=space, trials=section.trials, seed=seed, folder=folder,
                            batch=max(1, jobs), pruner=section.pruner)
    if section.trials > MAX_POINTS:
        raise ConfigError(f"sweep.trials: {section.trials:,} random points; at most {MAX_POINTS:,} are allowed "
                          "(every point is checked before any runs): draw fewer, or use --search optuna")
    return Search("random", draw(space, section.trials, seed))


# ---------------------------------------------------------------- Optuna's TPE


@dataclass
class OptunaSearch(Search):
    """Optuna's TPE sampler, asked for ``batch`` trials at a time; its study lives in the sweep folder
    (``study.db``, Optuna's RDB storage on SQLite), so a stopped search resumes: trials it had finished
    stay finished, trials it had asked for run again (their folders are reused when complete)."""

    space: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    trials: int = 0
    seed: int = 0
    folder: Path | None = None
    batch: int = 1
    pruner: str = "median"
    study: Any = None
    open: dict[str, int] = field(default_factory=dict)  # a point's values (JSON) -> its trial number

    def _distributions(self) -> dict[str, Any]:
        import optuna

        out: dict[str, Any] = {}
        for key, spec in self.space.items():
            (kind, args), = spec.items()
            if kind == "choice":  # choices may be lists (preprocess): Optuna sees their JSON text
                out[key] = optuna.distributions.CategoricalDistribution([json.dumps(v) for v in args])
            elif kind == "int":
                out[key] = optuna.distributions.IntDistribution(args[0], args[1])
            else:
                out[key] = optuna.distributions.FloatDistribution(args[0], args[1], log=kind == "loguniform")
        return out

    def _values(self, params: dict[str, Any]) -> Values:
        return {key: json.loads(params[key]) if "choice" in self.space[key] else params[key] for key in self.space}

    def _open_study(self) -> None:
        try:
            import optuna
        except ImportError:
            raise ConfigError("sweep.search: optuna needs Optuna installed; pip install 'digitclf[optuna]'") from None
        from sqlalchemy.exc import SQLAlchemyError

        from digitclf.paths import article, kind

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.folder.mkdir(parents=True, exist_ok=True)
        db = self.folder / "study.db"
        fresh = "move it away to start the search afresh (finished runs of the same values are reused)"
        if os.path.lexists(db) and (db.is_symlink() or kind(db) != "file"):
            raise RunError(f"{db} is {'a link' if db.is_symlink() else article(kind(db))}, not an Optuna study; "
                           f"{fresh}")
        try:
            with self._locked():  # two sweeps creating one study at once collide in Optuna's schema set-up
                self.study = optuna.create_study(study_name=STUDY, storage=open_storage(self.storage),
                                                 sampler=optuna.samplers.TPESampler(seed=self.seed),
                                                 direction="maximize", pruner=make_pruner(self.pruner),
                                                 load_if_exists=True)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise RunError(f"{db} is damaged or not an Optuna study ({reason}); {fresh}") from None
        # a resumed study continues the seeded sequence, not the start of it again (that would repeat trials)
        self.study.sampler = optuna.samplers.TPESampler(seed=self.seed + len(self.study.trials))

    def _locked(self) -> Any:
        """An flock on the sweep folder's ``.study.lock``: one process at a time creates the study or asks
        for trials (so two sweeps of one study never ask for more than ``trials`` between them)."""
        import contextlib

        from digitclf.paths import open_lock_file

        @contextlib.contextmanager
        def held() -> Any:
            try:
                import fcntl
            except ImportError:  # not POSIX: one sweep per study at a time is then the user's to keep
                yield
                return
            with open_lock_file(self.folder / ".study.lock") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield

        return held()

    def _ask(self, n: int) -> list[Values]:
        out = []
        distributions = self._distributions()
        with self._locked():
            for _ in range(max(0, min(n, self.trials - len(self.study.trials)))):
                trial = self.study.ask(distributions)
                values = self._values(trial.params)
                self.open[json.dumps(values, sort_keys=True)] = trial.number
                out.append(values)
        return out

    def first(self) -> list[Values]:
        import optuna

        self._open_study()
        previous = []
        for trial in self.study.trials:
            values = self._values(trial.params)
            if trial.state == optuna.trial.TrialState.RUNNING:  # asked by a sweep that stopped: run it again
                self.open[json.dumps(values, sort_keys=True)] = trial.number
            previous.append(values)
        return previous + self._ask(self.batch)

    def next(self, rows: list["PointRow"]) -> list[Values] | None:
        import optuna

        for row in rows:
            number = self.open.pop(json.dumps(row.values, sort_keys=True), None)
            if number is None:
                continue
            if row.status == "complete" and row.pruned:  # its last reported score is the trial's value
                self.study.tell(number, state=optuna.trial.TrialState.PRUNED)
            elif row.status == "complete" and row.accuracy is not None:
                self.study.tell(number, row.accuracy)
            else:
                self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        return self._ask(self.batch) or None

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.folder.absolute() / 'study.db'}"

    def point_overrides(self) -> tuple[str, ...]:
        return ("output.curve=true",) if self.pruner != "none" else ()

    def trial_link(self, values: Values) -> "TrialLink | None":
        number = self.open.get(json.dumps(values, sort_keys=True))
        if number is None or self.pruner == "none":
            return None
        return TrialLink(self.storage, number, self.pruner)

    def describe(self) -> str:
        pruning = "" if self.pruner == "none" else f", {self.pruner} pruner on the curves"
        return (f"optuna TPE search, {self.trials} trials, {self.batch} at a time{pruning}, "
                f"study in {self.folder}/study.db")

    def to_dict(self) -> dict[str, Any]:
        return {"search": self.name, "trials": self.trials, "pruner": self.pruner,
                "study": str(self.folder / "study.db")}


# ---------------------------------------------------------------- pruning, in the worker that runs a trial

STUDY = "digitclf"  # the study's name in study.db
REPORT_EVERY = 10  # iterations between two reports of a trial's curve (and the pruner's decisions)
PRUNER_WARMUP_STEPS = 10  # iterations every trial runs before the pruner judges it
PRUNER_STARTUP_TRIALS = 5  # finished trials before any is pruned


def make_pruner(name: str) -> Any:
    """Optuna's pruner for ``sweep.pruner``: median (MedianPruner after a warm-up) or none."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_STEPS)


def open_storage(url: str) -> Any:
    """study.db as Optuna's RDB storage, shared by the sweep's process and its workers: in SQLite's WAL mode
    with ``synchronous=NORMAL`` (a report is a commit: without them each costs an fsync, ~12 ms here, more
    than an iteration of a small fit) and waiting up to a minute for another process's write."""
    import optuna
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    @event.listens_for(storage.engine, "connect")
    def _pragmas(connection: Any, record: Any) -> None:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")

    storage.engine.dispose()  # the connections opened to create the tables predate the pragmas
    return storage


@dataclass(frozen=True)
class TrialLink:
    """What a worker needs to report a trial's curve (picklable): the study's storage URL and the trial."""

    storage: str
    number: int
    pruner: str

    def reporter(self) -> "TrialReporter":
        return TrialReporter(self)


class TrialReporter(RunObserver):
    """A run observer in the worker: every ``REPORT_EVERY`` iterations it reports the held-out accuracy to
    the trial in study.db (``trial.report``), and stops the fit (``curves.StopFit("pruned")``) when the
    pruner says so.

    The pruner judges the trial against the study's finished trials as they were when the fit began: they
    are read from study.db once, into an in-memory copy of the study where the pruner runs (reading every
    trial back at each decision would cost more than the fit on small data).
    """

    def __init__(self, link: TrialLink) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage(link.storage)
        study = optuna.load_study(study_name=STUDY, storage=storage)
        trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(STUDY),
                                                                   link.number)
        self.trial = optuna.trial.Trial(study, trial_id)
        # a trial a stopped sweep had started runs again: the steps it reported then stay as they are
        self.reported = set(storage.get_trial(trial_id).intermediate_values)
        self.replica = optuna.create_study(direction="maximize", pruner=make_pruner(link.pruner),
                                           sampler=optuna.samplers.RandomSampler(seed=0))
        self.replica.add_trials(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        self.judged = self.replica.ask()

    def on_iteration(self, progress: Any) -> None:
        from digitclf.curves import StopFit

        if progress.val_accuracy is None or progress.iteration % REPORT_EVERY:
            return
        if progress.iteration not in self.reported:
            self.trial.report(progress.val_accuracy, progress.iteration)
        self.judged.report(progress.val_accuracy, progress.iteration)
        if self.judged.should_prune():
            raise StopFit("pruned")
