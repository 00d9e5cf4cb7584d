"""The Hardware page's two longer panels: the shots budget advisor beside the dispatch, and the noise-aware comparison.

Both run several offline Aer jobs (:func:`qser_core.hardware.advisor.advise`,
:func:`qser_core.hardware.noise_aware.compare_training`) in the background from a button, with progress and a
Stop (:func:`offline_run`, which the page's noise and shot curves use too). Their results stay in session state
under the model and the settings that produced them, so any rerun (another widget, or coming back to the same
settings) shows them again without new jobs. Which recorded models can
partner the picked head in the comparison is decided here too (:func:`partners`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import pandas as pd
import streamlit as st

from app_support import cache, plots
from qser_core.config import QserConfig
from qser_core.errors import DataError, QserError

#: Data fields that decide a model's test clips (``clip_sets`` splits by speaker with them): partners share them.
#: ``n_folds`` is left out: the single split the hardware path tests on does not use it.
SPLIT_FIELDS = ("dataset", "data_dir", "val_fraction", "test_fraction", "split_seed")
#: Head fields of the noise-aware training itself; the rest of the head section makes it "the same head".
NOISE_FIELDS = ("noise_aware", "noise_backend", "noise_scale", "noise_shots")
#: How each side of the comparison was trained, in words.
TRAINED = {"ideal": "ideal-trained", "noise_aware": "noise-aware"}


# ------------------------------------------------------------------ partners
def role(config: QserConfig) -> tuple[str, str]:
    """``(picked, partner)``: ``compare_training``'s names of the picked head and of the partner it needs."""
    return ("noise_aware", "ideal") if config.head.noise_aware else ("ideal", "noise_aware")


def same_split(a: QserConfig, b: QserConfig) -> bool:
    """Whether two models were tested on the same clips (same corpus and speaker split)."""
    return all(getattr(a.data, name) == getattr(b.data, name) for name in SPLIT_FIELDS)


def same_head(a: QserConfig, b: QserConfig) -> bool:
    """Whether two models differ only in how they were trained (same circuit, reduction and embeddings)."""
    def circuit(c: QserConfig) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(c.head).items() if k not in NOISE_FIELDS}

    sections = ("audio", "features", "embedding", "reduce")
    return circuit(a) == circuit(b) and a.digest(*sections) == b.digest(*sections)


def check_partner(config: QserConfig, other: QserConfig) -> None:
    """Raise :class:`DataError` unless ``other`` can partner ``config`` in the comparison."""
    _, wanted = role(config)
    if other.head.kind != "quantum":
        raise DataError(f"the partner has a {other.head.kind} head; the comparison needs a quantum head")
    if bool(other.head.noise_aware) == bool(config.head.noise_aware):
        raise DataError(f"the partner was trained the same way as the picked head ({TRAINED[role(config)[0]]}); "
                        f"pick a {TRAINED[wanted]} head (head.noise_aware={str(wanted == 'noise_aware').lower()})")
    if not same_split(config, other):
        differ = [f"data.{n}: {getattr(config.data, n)!r} vs {getattr(other.data, n)!r}" for n in SPLIT_FIELDS
                  if getattr(config.data, n) != getattr(other.data, n)]
        raise DataError("the two heads were not tested on the same clips (" + "; ".join(differ) + "); train the "
                        "partner with the same data and split settings")


def partners(config: QserConfig, *, exclude: str | None = None,
             include_stopped: bool = False) -> dict[str, str]:
    """Recorded quantum models that can partner ``config``: trained the other way, same data and split.

    Returns ``{run_id: label}``, the same head settings first (newest first within each group); a label
    says when the circuit, reduction or embeddings differ.
    """
    from app_support.catalogue import eligible_models

    labels, _ = eligible_models("quantum", include_stopped=include_stopped)
    same, other = {}, {}
    for run_id, label in labels.items():
        found = cache.run_config(run_id) if run_id != exclude else None
        if found is None or found.head.noise_aware == config.head.noise_aware or not same_split(config, found):
            continue
        if same_head(config, found):
            same[run_id] = label
        else:
            other[run_id] = f"{label} · other head settings"
    return {**same, **other}


def train_command(config: QserConfig, partner: str) -> str:
    """The ``qser train`` line of the missing partner: the picked head's settings, trained the other way."""
    default = QserConfig()
    sets = [f"data.{n}={getattr(config.data, n)}" for n in SPLIT_FIELDS
            if getattr(config.data, n) != getattr(default.data, n)]
    for section in ("embedding", "reduce", "head"):
        mine, base = dataclasses.asdict(getattr(config, section)), dataclasses.asdict(getattr(default, section))
        sets += [f"{section}.{k}={v}" for k, v in mine.items() if v != base[k] and k not in NOISE_FIELDS]
    sets.append(f"head.noise_aware={str(partner == 'noise_aware').lower()}")
    return "qser train " + " ".join(f"--set {s}" for s in sets)


# ------------------------------------------------------------------ offline noise of a device
@functools.lru_cache(maxsize=1)
def _fake_qubits() -> dict[str, int]:
    from qser_core.hardware.backends import FAKE_BACKENDS, fake_backend

    return {name: fake_backend(name).num_qubits for name in FAKE_BACKENDS}


def offline_noise(backend: str, n_qubits: int | None = None) -> tuple[str, str]:
    """The fake backend whose noise the advice and the comparison use for ``backend``, and a sentence on it.

    A device with a fake backend uses its own calibration snapshot; another (a connected IBM device
    newer than the snapshots) the current device closest in size, retired Eagle devices last.
    """
    from qser_core.hardware.backends import DEFAULT_FAKE, FAKE_BACKENDS, RETIRED

    if backend in FAKE_BACKENDS:
        return backend, f"{backend}'s offline calibration snapshot (fake backend)"
    if n_qubits is None:
        closest, size = DEFAULT_FAKE, "a current Heron device"
    else:
        sizes = _fake_qubits()
        closest = min(FAKE_BACKENDS, key=lambda n: (n in RETIRED, abs(sizes[n] - n_qubits)))
        size = f"the current device closest in size ({sizes[closest]} qubits)"
    return closest, (f"{closest}'s offline calibration snapshot ({backend} has no fake backend; {size} stands in "
                     "for its noise)")


# ------------------------------------------------------------------ shared pieces
def offline_run(page: str, name: str, *, key: Any, button: str, call: Callable[..., Any], results: dict,
                track: bool = False) -> None:
    """A button that runs ``call`` (a library call taking ``context=``) in the background, with progress and a Stop.

    Once done, its result goes to ``results[key]``, where the panel finds it on this and every later rerun; a Stop
    or a failure is said under the button until the next run. The job lives in this session's state, so other
    widgets (and other pages) stay usable while it runs.
    """
    from app_support.background import CallJob

    slot, note = f"{page}.{name}.job", f"{page}.{name}.note"
    current = st.session_state.get(slot)
    busy = current is not None and not current[1].snapshot().finished
    if st.button(button, key=f"{page}.{name}.run", disabled=busy,
                 help="Running: wait for it, or press Stop below." if busy else None):
        st.session_state.pop(note, None)
        st.session_state[slot] = (key, CallJob(call, track=track).start())
        busy = True
    if said := st.session_state.get(note):
        status, message = said
        (st.warning if status == "stopped" else st.error)(("Stopped: " if status == "stopped" else "") + message)
    if st.session_state.get(slot) is not None:
        st.fragment(_watch, run_every=1.0 if busy else None)(page, name, results)


def _watch(page: str, name: str, results: dict) -> None:
    """The running job's progress and Stop; once it ends, its result (or its message) and a rerun of the page."""
    slot = f"{page}.{name}.job"
    key, job = st.session_state[slot]
    snap = job.snapshot()
    if not snap.finished:
        done, total, message = snap.progress
        st.progress(min(done / total, 1.0) if total else 0.0,
                    text=f"{done} / {total} offline jobs done · {message} · {snap.seconds:.0f} s")
        if st.button("Stop", key=f"{page}.{name}.stop", help="Stops after the job that is running."):
            job.stop()
            st.caption("Stopping after the job that is running…")
        return
    del st.session_state[slot]
    if snap.status == "done":
        results[key] = snap.result
    else:
        st.session_state[f"{page}.{name}.note"] = (snap.status, snap.error)
    st.rerun(scope="app")  # draw the result where the panel shows it


def _interval(value: float, ci: Any) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _set_state(key: str, value: Any) -> None:
    st.session_state[key] = value  # a callback: runs before the next run draws the widget


# ------------------------------------------------------------------ shots budget advisor
def shots_advisor(page: str, source: tuple[str, str], *, backend: str, note: str, noise_scale: float,
                  n_clips: int, budget_s: float | None, shots_key: str, shot_choices: list[int]) -> None:
    """The advisor: shot counts and target, a button, then the recommendation, the clips in budget and the figure."""
    from qser_core.hardware.advisor import AGREEMENT_TARGET, advise
    from qser_core.hardware.noise import SHOT_COUNTS

    st.caption(f"The fewest shots per clip whose predictions agree with the ideal ones on at least the target share "
               f"of clips and whose UA stays inside the ideal run's 95% interval; one offline job per shot count, "
               f"on {note}, λ = {noise_scale:g}.")
    cols = st.columns([3, 1])
    tried = cols[0].multiselect("Shot counts tried", shot_choices, key=f"{page}.advise.shots",
                                default=[s for s in SHOT_COUNTS if s in shot_choices])
    target = cols[1].number_input("Agreement target (%)", min_value=50, max_value=100,
                                  value=round(100 * AGREEMENT_TARGET), key=f"{page}.advise.target")
    key = (source, backend, float(noise_scale), int(n_clips), tuple(sorted(tried)), int(target), budget_s)
    results = st.session_state.setdefault(f"{page}.advise.results", {})
    if not tried:
        st.caption("Pick at least one shot count to advise.")
        return
    offline_run(page, "advise", key=key, button=f"Advise shots ({len(tried)} offline jobs)", results=results,
                call=functools.partial(advise, cache.picked_model(source), backend=backend, shots=sorted(tried),
                                       target=target / 100, noise_scale=noise_scale, n_clips=n_clips or None,
                                       budget_s=budget_s))
    if (advice := results.get(key)) is None:
        return
    rec, shots = advice["recommendation"], advice["recommendation"]["shots"]
    cols = st.columns(3)
    cols[0].metric("Recommended shots", shots if shots is not None else "none", help=rec["reason"])
    cols[1].metric(f"Test clips in {advice['budget_s']:.0f} QPU s", advice["clips_fit"],
                   help=f"At {advice['budget_shots']} shots, in one job, by IBM's estimate; budget: "
                        f"{advice['budget_source']}.")
    cols[2].metric(f"QPU time of the {advice['n_test']} clips", f"{advice['seconds_per_job']:.1f} s")
    (st.success if shots is not None else st.warning)(
        (f"Recommended: {shots} shots per clip — " if shots is not None else "No recommendation: ") + rec["reason"]
        + f". {advice['clips_fit']} test clips fit in {advice['budget_s']:.0f} QPU s at {advice['budget_shots']} "
        f"shots in one job (IBM's estimate; budget: {advice['budget_source']}).")
    st.plotly_chart(plots.shots_advice(advice), key=f"{page}.advise.fig")
    st.button(f"Use {shots} shots" if shots is not None else "Use the recommended shots", key=f"{page}.advise.apply",
              disabled=shots not in shot_choices, on_click=_set_state, args=(shots_key, shots),
              help="Sets the Shots slider above.")


# ------------------------------------------------------------------ noise-aware comparison
def comparison_frame(result: dict[str, Any]) -> pd.DataFrame:
    """One row per λ: each head's UA, their paired difference with interval and p, agreement, recalibrated UA."""
    rows = []
    for p in result["points"]:
        d = p["paired"]
        row = {"λ": p["noise_scale"]}
        for name, label in TRAINED.items():
            row[f"{label} UA [95%]"] = _interval(p[name]["ua"], p[name]["ua_ci95"])
        row["noise-aware − ideal [95%]"] = f"{d['ua_diff']:+.3f} [{d['ua_diff_ci95'][0]:+.3f}, " \
                                           f"{d['ua_diff_ci95'][1]:+.3f}]"
        row["p (paired bootstrap)"] = round(d["p_value"], 4)
        row["McNemar p"] = round(d["mcnemar"]["p_value"], 4)
        for name, label in TRAINED.items():
            row[f"{label} agreement"] = f"{p[name]['agreement']:.1%}"
        for name, label in TRAINED.items():
            recal = p[name].get("recalibrated")
            row[f"{label} recalibrated UA [95%]"] = _interval(recal["ua"], recal["ua_ci95"]) if recal else "—"
        rows.append(row)
    return pd.DataFrame(rows)


def noise_aware_comparison(page: str, source: tuple[str, str], *, backend: str, note: str, shots: int,
                           n_clips: int, recalibrate: int) -> None:
    """The partner choice, a button, then the two curves, the per-λ table and the verdict."""
    from qser_core.hardware.noise_aware import COMPARE_SCALES, compare_training

    config = cache.picked_model(source).config
    mine, theirs = role(config)
    st.caption(f"The picked head is {TRAINED[mine]}. Its {TRAINED[theirs]} partner (same data and split, so the "
               f"same test clips) and it are both scored on {note} at λ = "
               f"{', '.join(f'{x:g}' for x in COMPARE_SCALES)}, {shots} shots, with paired tests.")
    options = partners(config, exclude=source[1] if source[0] == "recorded" else None,
                       include_stopped=bool(st.session_state.get(f"{page}.include_stopped")))  # as the model picker
    cols = st.columns([3, 2])
    run_id = cols[0].selectbox(f"{TRAINED[theirs].capitalize()} partner (recorded, same data and split)",
                               list(options), format_func=options.get, key=f"{page}.partner") if options else None
    folder = cols[1].text_input("…or a saved model folder", key=f"{page}.partner_folder",
                                help="A folder `qser train --out DIR` wrote. Load only models you trust.").strip()
    partner = ("folder", folder) if folder else ("recorded", run_id) if run_id else None
    if partner is None:
        st.info(f"No recorded {TRAINED[theirs]} quantum model with the same data and split settings yet. Train one "
                f"on the Train page with **Noise-aware PQC** {'ticked' if theirs == 'noise_aware' else 'unticked'} "
                f"(the same settings otherwise), or run `{train_command(config, theirs)}`.")
        return
    key = (source, partner, backend, int(shots), int(n_clips), int(recalibrate))
    results = st.session_state.setdefault(f"{page}.compare.results", {})
    try:
        other = cache.picked_model(partner)
        check_partner(config, other.config)
    except QserError as exc:  # before any job: the partner cannot be compared with the picked head
        st.error(str(exc))
        return
    offline_run(page, "compare", key=key, button=f"Compare the two heads ({2 * len(COMPARE_SCALES)} offline jobs)",
                results=results,
                call=functools.partial(compare_training, {mine: cache.picked_model(source), theirs: other},
                                       backend=backend, noise_scales=COMPARE_SCALES, shots=shots,
                                       n_clips=n_clips or None, recalibrate=recalibrate))
    if (result := results.get(key)) is None:
        return
    st.plotly_chart(plots.noise_aware_curves(result), key=f"{page}.compare.fig")
    st.dataframe(comparison_frame(result), hide_index=True, key=f"{page}.compare.table")
    st.caption("Difference: noise-aware minus ideal-trained UA on the same clips (paired bootstrap), with McNemar's "
               "test on the predictions. Agreement: the share of clips each head predicts as its own exact "
               "simulation does. "
               + ("Recalibrated: the readout refitted on training clips run in the same job — the cheap version "
                  "of the same idea." if result["recalibrate"] else
                  "Set Recalibration clips above 0 to see the readout recalibration beside it."))
    st.info(f"**Verdict:** {result['verdict']}.")
