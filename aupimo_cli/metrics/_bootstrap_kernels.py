"""Numba kernels of the exact bootstrap of pixel AUROC and AUPRO (see `bootstrap` for the algorithm).

`sweep_columns` walks a few images' sorted normal scores down the pooled distinct anomalous scores once, and
accumulates what every replicate needs from them (columns of the image-pair Mann-Whitney matrix, and
each replicate's PRO-area terms at its FPR cut). `pro_at_steps` gives each anomalous image's PRO sum at given
steps of the walk.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, nogil=True)
def sweep_columns(
    normals: NDArray[Any],
    offsets: NDArray[np.int64],
    thresholds: NDArray[Any],
    group_start: NDArray[np.int64],
    group_row: NDArray[np.int32],
    group_count: NDArray[np.int32],
    group_weight: NDArray[np.float64],
    event_step: NDArray[np.int64],
    event_replicate: NDArray[np.int64],
    anomalous_weights: NDArray[np.float64],
    column_weights: NDArray[np.float64],
    twice_u: NDArray[np.int64],
    event_terms: NDArray[np.float64],
) -> None:
    """A block of images' (columns') share of every replicate's pixel AUROC and PRO area.

    Steps g = 1..G are the distinct anomalous scores t_1 > ... > t_G, step G + 1 the scores below t_G. At step
    g, for image j, ``between`` counts its normal scores in (t_g, t_{g-1}) and ``tied`` those equal to t_g; Bc
    and Tc are their running sums, and pi_i(g) the PRO sum of anomalous image i at t_g. With
    Y1_i(g) = sum_{h<=g} dpi_i(h) (Bc(h) + Tc(h) / 2) and Y2_i(g) = sum_{h<=g} dpi_i(h) Tc(h - 1), the full
    steps of the PRO area up to a cut K (summation by parts of sum_g between(g) pi(g-1) + tied(g) (pi(g-1) +
    pi(g)) / 2) are pi(K-1) (Bc(K) + Tc(K)/2) + pi(K) Tc(K)/2 - Y1(K-1) - Y2(K)/2. The images of a block are
    walked together, so that the anomalous groups are read once per block, not once per image.

    Args:
        normals, offsets: the block's k images' normal scores, each ascending, one after the other: image c's
            are ``normals[offsets[c]:offsets[c + 1]]``.
        thresholds: (G,) the distinct anomalous scores, descending.
        group_start: (G + 1,) the anomalous pixels at t_g are entries group_start[g-1]:group_start[g] of the
            group arrays, one entry per anomalous image holding some.
        group_row: (E,) that image's row among the anomalous images; group_count: (E,) its pixels at t_g;
            group_weight: (E,) the sum of their PRO weights (1 / region size).
        event_step, event_replicate: (Q,) each event's cut K in 0..G+1, ascending, and its replicate.
        anomalous_weights: (B, A) each replicate's weight of each anomalous image.
        column_weights: (B, k) each replicate's weight of each image of the block.
        twice_u: (A, k) output, += twice the Mann-Whitney count of anomalous image i's pixels against each
            image's normal pixels (2 per pair above, 1 per tie).
        event_terms: (Q, 5) output, += each image's weight times: [-(w . Y1(K-1)) - (w . Y2(K)) / 2, Bc(K),
            Tc(K), between(K + 1), tied(K + 1)], w the event's replicate's weights of the anomalous images.
    """
    num_columns = offsets.shape[0] - 1
    num_steps = thresholds.shape[0]
    num_rows = anomalous_weights.shape[1]
    num_events = event_step.shape[0]
    y1 = np.zeros((num_rows, num_columns), dtype=np.float64)
    y2 = np.zeros((num_rows, num_columns), dtype=np.float64)
    sizes = np.empty(num_columns, dtype=np.int64)
    position = np.empty(num_columns, dtype=np.int64)
    for column in range(num_columns):
        sizes[column] = offsets[column + 1] - offsets[column]
        position[column] = sizes[column]
    bc = np.zeros(num_columns, dtype=np.int64)
    tc = np.zeros(num_columns, dtype=np.int64)
    tc_before = np.zeros(num_columns, dtype=np.int64)
    between = np.zeros(num_columns, dtype=np.int64)
    tied = np.zeros(num_columns, dtype=np.int64)
    twice_below = np.zeros(num_columns, dtype=np.int64)
    half = np.zeros(num_columns, dtype=np.float64)
    at_event = 0
    while at_event < num_events and event_step[at_event] == 0:
        at_event += 1  # a cut before the first step: no full step, nothing but the next step's counts
    next_event = 0
    for step in range(1, num_steps + 2):
        for column in range(num_columns):
            base = offsets[column]
            at = position[column]
            count_between = 0
            count_tied = 0
            if step <= num_steps:
                threshold = thresholds[step - 1]
                while at > 0 and normals[base + at - 1] > threshold:
                    at -= 1
                    count_between += 1
                while at > 0 and normals[base + at - 1] == threshold:
                    at -= 1
                    count_tied += 1
            else:
                count_between = at
                at = 0
            position[column] = at
            between[column] = count_between
            tied[column] = count_tied
            tc_before[column] = tc[column]
            bc[column] += count_between
            tc[column] += count_tied
            twice_below[column] = 2 * (sizes[column] - bc[column] - tc[column]) + count_tied
            half[column] = bc[column] + 0.5 * tc[column]
        while next_event < num_events and event_step[next_event] == step - 1:
            replicate = event_replicate[next_event]
            for column in range(num_columns):
                weight = column_weights[replicate, column]
                event_terms[next_event, 3] += weight * between[column]
                event_terms[next_event, 4] += weight * tied[column]
            next_event += 1
        if step <= num_steps:
            for entry in range(group_start[step - 1], group_start[step]):
                row = group_row[entry]
                count = np.int64(group_count[entry])
                weight_pro = group_weight[entry]
                for column in range(num_columns):
                    twice_u[row, column] += count * twice_below[column]
                    y2[row, column] += weight_pro * tc_before[column]
        while at_event < num_events and event_step[at_event] == step:
            replicate = event_replicate[at_event]
            for column in range(num_columns):
                weight = column_weights[replicate, column]
                if weight != 0.0:
                    dot1 = 0.0
                    dot2 = 0.0
                    for row in range(num_rows):
                        dot1 += anomalous_weights[replicate, row] * y1[row, column]
                        dot2 += anomalous_weights[replicate, row] * y2[row, column]
                    event_terms[at_event, 0] += weight * (-dot1 - 0.5 * dot2)
                    event_terms[at_event, 1] += weight * bc[column]
                    event_terms[at_event, 2] += weight * tc[column]
            at_event += 1
        if step <= num_steps:
            for entry in range(group_start[step - 1], group_start[step]):
                row = group_row[entry]
                weight_pro = group_weight[entry]
                for column in range(num_columns):
                    y1[row, column] += weight_pro * half[column]


@numba.njit(cache=True, nogil=True)
def pro_at_steps(
    group_start: NDArray[np.int64],
    group_row: NDArray[np.int32],
    group_weight: NDArray[np.float64],
    num_rows: int,
    query_steps: NDArray[np.int64],
) -> NDArray[np.float64]:
    """(len(query_steps), A) the PRO sum pi_i(g) of each anomalous image at each queried step g (ascending, in
    -1..G+1; pi is 0 at g <= 0 and stays pi(G) beyond G)."""
    num_steps = group_start.shape[0] - 1
    out = np.zeros((query_steps.shape[0], num_rows), dtype=np.float64)
    current = np.zeros(num_rows, dtype=np.float64)
    done = 0
    for query in range(query_steps.shape[0]):
        target = min(query_steps[query], num_steps)
        while done < target:
            done += 1
            for entry in range(group_start[done - 1], group_start[done]):
                current[group_row[entry]] += group_weight[entry]
        out[query, :] = current
    return out


@numba.njit(cache=True, nogil=True)
def counts_at_or_above(normals: Any, positions: NDArray[np.int64], thresholds: NDArray[Any], out: NDArray[Any]) -> None:
    """out[s, j] = image j's normal scores >= thresholds[s], for a block of descending thresholds continuing the
    previous block's walk (`positions`: each image's scores below the last threshold, updated).

    Args:
        normals: typed list of every image's normal scores, ascending.
        positions: (N,) per image, how many of its scores lie below the previous threshold (its size at first).
        thresholds: (S,) this block's thresholds, descending, below the previous block's.
        out: (S, N) float64 output.
    """
    for column in range(len(normals)):
        values = normals[column]
        at = positions[column]
        for step in range(thresholds.shape[0]):
            threshold = thresholds[step]
            while at > 0 and values[at - 1] >= threshold:
                at -= 1
            out[step, column] = values.shape[0] - at
        positions[column] = at


@numba.njit(cache=True, nogil=True)
def precision_steps(
    false_positives: NDArray[np.float64],
    group_start: NDArray[np.int64],
    group_row: NDArray[np.int32],
    group_count: NDArray[np.int32],
    anomalous_weights: NDArray[np.float64],
    positives: NDArray[np.float64],
    true_positives: NDArray[np.float64],
    average_precision: NDArray[np.float64],
    f1_max: NDArray[np.float64],
) -> None:
    """Advance every replicate's AP and F1max over a block of distinct anomalous scores (descending).

    Args:
        false_positives: (S, B) each replicate's weighted normal pixels >= each score of the block.
        group_start: (S + 1,) the block's entries in the group arrays (offsets into them, not rebased).
        group_row, group_count: per entry, the anomalous image's row and its pixels at that score.
        anomalous_weights: (B, A) the replicates' weights of the anomalous images.
        positives: (B,) each replicate's weighted anomalous pixels.
        true_positives, average_precision, f1_max: (B,) running state, updated.
    """
    num_replicates = positives.shape[0]
    for step in range(false_positives.shape[0]):
        for replicate in range(num_replicates):
            gained = 0.0
            for entry in range(group_start[step], group_start[step + 1]):
                gained += anomalous_weights[replicate, group_row[entry]] * group_count[entry]
            tp = true_positives[replicate] + gained
            fp = false_positives[step, replicate]
            if gained > 0.0:
                average_precision[replicate] += gained / positives[replicate] * tp / (tp + fp)
            f1 = 2.0 * tp / (tp + fp + positives[replicate])
            if f1 > f1_max[replicate]:
                f1_max[replicate] = f1
            true_positives[replicate] = tp
