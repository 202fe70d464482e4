"""How the leaderboard's numbers read (leaderboard/render.py): three significant figures and their trailing zeros, whole
numbers, signs and intervals, counts as "k/n", NaN as an em dash, the bold best (BOLD_RULE), and the Markdown, CSV,
LaTeX and HTML renderings of small tables built here by hand, with every expected cell worked out by hand. No
training: these tests take about a second, so mutation testing runs them for every mutant (README: Development)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from rnnbench.leaderboard.render import (_fraction, _sort_value, _tex_columns, cell_text, interval_text, latex_escape,
                                         md_escape, number_text, render, separated_best, signed_text, whole_text)

NAN = math.nan


def md_cells(md: str) -> list[list[str]]:
    """A Markdown table's header and body rows as lists of their cells' texts (the alignment row left out); a cell
    is split at a pipe that md_escape did not escape."""
    lines = md.splitlines()
    assert re.fullmatch(r"\|(:?-+\|)+", lines[1].replace(" ", "")), lines[1]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in [lines[0], *lines[2:]]]


# --- one number ---------------------------------------------------------------------------------------------------


def test_a_number_in_a_sentence_has_three_significant_figures_and_nan_is_a_dash():
    assert [number_text(x) for x in (None, NAN, np.nan, 0.5, 0.012345, -2.0)] == ["—", "—", "—", "0.5", "0.0123", "-2"]


def test_a_cell_keeps_three_significant_figures_with_their_zeros():
    assert [cell_text(x) for x in (0.15, 0.5, 1.0, 2.5e-05, 0.0, -0.02)] == ["0.150", "0.500", "1.00", "2.50e-05",
                                                                               "0.00", "-0.0200"]
    assert [cell_text(x) for x in (None, NAN, np.float64(NAN))] == ["—", "—", "—"]


def test_a_cell_of_three_whole_digits_has_no_trailing_point():
    assert [cell_text(x) for x in (123.0, 999.4, -120.0, 50.0)] == ["123", "999", "-120", "50.0"]


def test_a_cell_of_1000_and_more_is_written_in_full_from_999_5_on():
    # 999.5 rounds (half to even) to 1000: at three significant figures it would read 1.00e+03
    assert [cell_text(x) for x in (999.5, -999.5, 1000.0, 1000.4, 1234.4, 56789.0)] == [
        "1000", "-1000", "1000", "1000", "1234", "56789"]


def test_an_integer_cell_is_the_integer_and_a_boolean_is_a_number():
    assert [cell_text(x) for x in (5, np.int64(7), 4352, -3)] == ["5", "7", "4352", "-3"]
    assert [cell_text(x) for x in (True, np.bool_(False))] == ["1.00", "0.00"]


def test_a_whole_number_is_written_whole_and_nan_is_a_dash():
    assert [whole_text(x) for x in (None, NAN, np.float64(NAN), pd.NA, 3.0, 1234.0, np.int64(12))] == [
        "—", "—", "—", "—", "3", "1234", "12"]


def test_a_positive_number_has_a_plus_and_zero_and_negatives_none():
    assert [signed_text(x) for x in (0.5, 1.5, 0.0, -0.5, -2.0, NAN)] == ["+0.5", "+1.5", "0", "-0.5", "-2", "—"]
    assert [signed_text(x, cell_text) for x in (0.5, 0.0, -0.25, NAN)] == ["+0.500", "0.00", "-0.250", "—"]


def test_an_interval_shows_both_signed_bounds_in_order():
    assert interval_text(-0.25, 0.5) == "[-0.25, +0.5]"
    assert interval_text(0.125, 2.0) == "[+0.125, +2]"
    assert interval_text(-0.25, 0.5, cell_text) == "[-0.250, +0.500]"
    assert interval_text(NAN, 0.5) == "[—, +0.5]"


def test_a_count_reads_k_of_n_and_sorts_by_its_fraction():
    col = _fraction("better in", "n_pairs")
    t = pd.DataFrame({"n_better": [1.0, 3.0, 0.0], "n_pairs": [5.0, 4.0, 2.0]}, index=[4, 2, 9])
    assert col.header == "better in"
    text = col.text(t, "n_better")
    assert list(text) == ["1/5", "3/4", "0/2"] and list(text.index) == [4, 2, 9]
    assert list(col.key(t, "n_better")) == [0.2, 0.75, 0.0]


def test_the_sort_value_of_a_cell():
    # the page sorts numerically where both keys are numbers and puts an empty key (a missing value) last
    assert [_sort_value(v) for v in (True, np.bool_(False), NAN, 0.25, 3, np.int64(3), np.float64(-1.5), "gru")] == [
        "1", "0", "", "0.25", "3.0", "3.0", "-1.5", "gru"]


def test_escaping_keeps_a_pipe_from_splitting_a_markdown_cell():
    assert md_escape("a|b*c") == "a\\|b\\*c"
    assert md_escape("x<y & `z`") == "x&lt;y &amp; \\`z\\`"


def test_latex_writes_a_character_it_cannot_typeset_as_its_code_point():
    assert latex_escape("ψ=0.5") == "[U+03C8]=0.5"
    assert latex_escape("\u0250 \u024f") == "[U+0250] \u024f"  # LATIN is the first character written as a code point
    assert latex_escape("50% & ±") == r"50\% \& $\pm$"


# --- the bold best (BOLD_RULE) ------------------------------------------------------------------------------------


def test_a_noise_that_is_not_a_number_is_not_counted():
    values = pd.Series([0.9, 0.1], index=[5, 6])
    assert list(separated_best(values, pd.Series(["n/a", 0.05], index=[5, 6]), "max")) == [True, False]
    assert list(separated_best(values, pd.Series(["n/a", 0.85], index=[5, 6]), "max")) == [False, False]


def test_the_runner_up_among_equal_values_is_the_first_in_the_tables_order():
    # 0.5 is the runner-up seven times over; the first of them (position 3) has a standard error of 0.1, the others
    # 0.6: against the first, the best (1.0, error 0.1) is separated (0.5 > 0.1), against any other it is not
    values = [1.0, 0.25, 0.25, 0.5, 0.5, 0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 0.25, 0.5, 0.25]
    noise = [0.1, 0.0, 0.0, 0.1] + [0.6 if v == 0.5 else 0.0 for v in values[4:]]
    bold = separated_best(pd.Series(values), pd.Series(noise), "max")
    assert list(bold) == [True] + [False] * 16
    # and with the first runner-up noisy, the best is not separated
    noise[3] = 0.6
    assert not separated_best(pd.Series(values), pd.Series(noise), "max").any()


# --- whole tables -------------------------------------------------------------------------------------------------


def task_like() -> pd.DataFrame:
    """Two combos on one task whose metric (mse) is lower-is-better; an index that is not 0..n-1 (as after a query)."""
    return pd.DataFrame({
        "label": ["gru", "rnn|x"],
        "metric": ["mse", "mse"], "higher_is_better": [False, False],
        "mean": [0.5, 0.25], "std": [0.02, NAN], "n_ok": [4, 4],
        "score": [1.0, 0.0], "score_se": [0.01, 0.02],
        "steps_to_best": [50.0, 75.0],
        "params": [4352, 1234],
        "n_diverged": [1.0, 0.0], "n_runs": [5.0, 4.0],
        "flag": [True, False],
    }, index=[10, 20])


def test_a_task_table_in_markdown():
    # mean: lower is better, 0.25 beats 0.5 by more than 0.02/sqrt(4) = 0.01 (the other's std is NaN: not counted);
    # score: 1.00 beats 0.00 by more than 0.02; a score of 1 or 0 keeps its three figures, steps to best are whole
    assert md_cells(render(task_like(), "md")) == [
        ["combo", "mse ↓ (mean ± std)", "score ↑", "steps to best", "recurrent params", "diverged", "flag"],
        ["gru", "0.500 ± 0.0200", "**1.00**", "50", "4352", "1/5", "True"],
        ["rnn\\|x", "**0.250**", "0.00", "75", "1234", "0/4", "False"],
    ]


def test_a_task_table_in_latex():
    t = task_like().drop(columns=["flag", "params"]).assign(label=["gru", "rnn_x"])
    assert render(t, "tex", table_id="adding") == "\n".join([
        r"\begin{table}[tbp]",
        r"\caption{rnnbench: adding}",
        r"\label{tab:adding}",
        r"\begin{tabular}{lrrrr}",
        r"\toprule",
        r"combo & mse $\downarrow$ (mean $\pm$ std) & score $\uparrow$ & steps to best & diverged \\",
        r"\midrule",
        r"gru & 0.500 $\pm$ 0.0200 & \textbf{1.00} & 50 & 1/5 \\",
        r"rnn\_x & \textbf{0.250} & 0.00 & 75 & 0/4 \\",
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
        ""])


def test_a_latex_caption_is_the_given_one_or_names_the_table():
    t = pd.DataFrame({"label": ["gru"], "score": [0.5]})
    body = "\n".join([r"\begin{tabular}{lr}", r"\toprule", r"combo & score $\uparrow$ \\", r"\midrule",
                      r"gru & 0.500 \\", r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])
    assert render(t, "tex") == "\n".join([r"\begin{table}[tbp]", r"\caption{rnnbench: table}", body])
    assert render(t, "tex", table_id="x", caption="Scores: 50% & more") == "\n".join(
        [r"\begin{table}[tbp]", r"\caption{Scores: 50\% \& more}", r"\label{tab:x}", body])


def test_latex_columns_numbers_right_short_text_left_long_text_wrapped():
    raw = pd.DataFrame({"n": [0.5], "flag": [True], "short": ["a"], "edge": ["e" * 40], "long": ["l" * 41],
                        "claim": ["c" * 80]})
    assert _tex_columns(raw, raw.astype(str)) == r"rlllp{0.45\linewidth}p{0.45\linewidth}"
    one = raw[["n", "long"]]
    assert _tex_columns(one, one.astype(str)) == r"rp{0.90\linewidth}"


def test_a_table_in_html():
    t = pd.DataFrame({
        "label": ["gru", "rnn & co"],
        "score": [0.9, 0.1], "score_se": [0.01, 0.02],
        "n_diverged": [1.0, 0.0], "n_runs": [5.0, 4.0],
        "flag": [True, False],
        "steps_to_best": [50.0, NAN],
    }, index=[7, 3])
    head = ('<th scope="col"><button type="button">combo</button></th>'
            '<th scope="col"><button type="button">score <span class="better" title="higher is better">↑</span>'
            '</button></th>'
            '<th scope="col"><button type="button">diverged</button></th>'
            '<th scope="col"><button type="button">flag</button></th>'
            '<th scope="col"><button type="button">steps to best</button></th>')
    rows = ('<tr><td data-sort-value="gru">gru</td><td data-sort-value="0.9"><strong>0.900</strong></td>'
            '<td data-sort-value="0.2">1/5</td><td data-sort-value="1">True</td><td data-sort-value="50.0">50</td></tr>\n'
            '<tr><td data-sort-value="rnn &amp; co">rnn &amp; co</td><td data-sort-value="0.1">0.100</td>'
            '<td data-sort-value="0.0">0/4</td><td data-sort-value="0">False</td><td data-sort-value="">—</td></tr>')
    assert render(t, "html", table_id="overall", caption="Scores & more") == (
        f'<table class="sortable" id="overall"><caption>Scores &amp; more</caption><thead><tr>{head}</tr></thead>\n'
        f'<tbody>\n{rows}\n</tbody></table>\n')
    assert render(t, "html") == (f'<table class="sortable"><thead><tr>{head}</tr></thead>\n'
                                 f'<tbody>\n{rows}\n</tbody></table>\n')


def test_csv_is_the_raw_numbers_without_the_index():
    t = pd.DataFrame({"label": ["gru", "rnn"], "score": [0.5, 0.125], "n_runs": [5, 4]}, index=[7, 3])
    assert render(t, "csv") == "label,score,n_runs\ngru,0.5,5\nrnn,0.125,4\n"


def test_a_metric_without_a_direction_has_no_arrow_and_no_bold():
    t = pd.DataFrame({"label": ["a", "b"], "metric": ["loss", "loss"], "higher_is_better": [NAN, NAN],
                      "mean": [0.9, 0.1], "std": [0.01, 0.01], "n_ok": [4, 4]})
    assert md_cells(render(t, "md")) == [["combo", "loss (mean ± std)"], ["a", "0.900 ± 0.0100"],
                                         ["b", "0.100 ± 0.0100"]]


def test_metrics_of_both_directions_have_a_generic_header_and_no_bold():
    t = pd.DataFrame({"label": ["a", "b"], "metric": ["mse", "mse"], "higher_is_better": [True, False],
                      "mean": [0.9, 0.1], "std": [0.01, NAN], "n_ok": [4, 4]})
    assert md_cells(render(t, "md")) == [["combo", "primary metric (mean ± std)"], ["a", "0.900 ± 0.0100"],
                                         ["b", "0.100"]]


def test_effects_show_a_signed_mean_and_its_interval():
    t = pd.DataFrame({"axis": ["cell", "cell", "init"], "level": ["gru", "lstm", "chrono"],
                      "baseline": ["rnn", "rnn", "default"],
                      "effect": [0.5, -0.5, 0.0], "ci_low": [0.25, NAN, -0.5], "ci_high": [0.75, NAN, 0.0]},
                     index=[3, 1, 2])
    assert md_cells(render(t, "md")) == [
        ["axis", "level", "vs", "mean Δ score [95% interval]"],
        ["cell", "gru", "rnn", "+0.500 [+0.250, +0.750]"],
        ["cell", "lstm", "rnn", "-0.500"],
        ["init", "chrono", "default", "0.00 [-0.500, 0.00]"],
    ]


def test_the_overall_best_is_among_the_combos_scored_on_the_most_tasks():
    # c's 0.95 is the highest but c is scored on fewer tasks: a (0.9) against b (0.1) is bold; a single task scored
    # (max tasks_scored 1) still has a best
    t = pd.DataFrame({"label": ["c", "a", "b"], "mean_score": [0.95, 0.9, 0.1], "mean_score_se": [0.01, 0.01, 0.01],
                      "tasks_scored": [1, 2, 2], "n_tasks": [2, 2, 2]})
    assert md_cells(render(t, "md"))[1:] == [["c", "0.950", "1/2"], ["a", "**0.900**", "2/2"],
                                             ["b", "0.100", "2/2"]]
    one = pd.DataFrame({"label": ["a", "b", "z"], "mean_score": [0.9, 0.1, NAN], "mean_score_se": [0.01, 0.01, NAN],
                        "tasks_scored": [1, 1, 0], "n_tasks": [1, 1, 1]})
    assert md_cells(render(one, "md")) == [["combo", "mean score ↑", "tasks scored"], ["a", "**0.900**", "1/1"],
                                           ["b", "0.100", "1/1"], ["z", "—", "0/1"]]
