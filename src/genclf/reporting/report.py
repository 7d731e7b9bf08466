"""The self-contained HTML report: verdicts first, then tables and figures (images embedded)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from genclf.files import write_text
from genclf.reporting.summary import GENERATOR_COLUMNS
from genclf.reporting.tables import COLORIZATION, colorization_rows

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1720px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.86em} th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left} th{background:#f4f6f8}
.warning{background:#fff4e5;border-left:4px solid #b54708;padding:.4em .8em} .headline{font-size:1.08em;background:#eef4fb;border-left:4px solid #4C78A8;padding:.5em .8em} .gain{color:#1a7f37;font-weight:600} .loss{color:#b42318;font-weight:600} .none{color:#555} .inconclusive{color:#9a6700;font-weight:600}
figure{display:inline-block;margin:.6em 1em .6em 0;vertical-align:top} figure img{max-width:min(520px,100%);border:1px solid #eee} figure.small img{max-width:330px} figure.wide img{max-width:min(1280px,100%)}
figure.gains img{max-width:min(900px,100%)} figure.zoom img{max-width:440px;cursor:zoom-in} figure.zoom input{display:none} figure.zoom input:checked+img{max-width:min(1200px,96vw);cursor:zoom-out}
div.scroll{overflow-x:auto;max-width:100%} table.verdicts td:nth-child(7){white-space:normal;min-width:16em;max-width:30em;text-align:left} figcaption{font-size:.85em;color:#555} .note{background:#f7f7f2;border-left:4px solid #c9c28a;padding:.5em .8em;font-size:.9em}
"""


ROBUSTNESS_CAPTIONS = ("robustness:", "calibration:")
GENERATOR_CAPTIONS = ("generated samples:", "colorized:")


def _budget_order(figure: tuple) -> list:
    """A figure's caption with its numbers compared as numbers (k10, k25, k100; not k10, k100, k25)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", figure[1])]


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    image = f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
    if caption.startswith("confusion"):  # readable: click to enlarge (no script: a checkbox toggles the size)
        return (
            f"<figure class='zoom'><label><input type='checkbox'>{image}</label>"
            f"<figcaption>{html.escape(caption)} (click to enlarge)</figcaption></figure>"
        )
    size = " class='small'" if caption.startswith("generated") else ""
    size = " class='wide'" if caption.startswith("calibration:") else size
    size = " class='gains'" if caption.startswith("gains:") else size
    return f"<figure{size}>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _verdict_table(comparisons: list[dict], metric: str, strategies: dict | None = None) -> str:
    rows = [
        f"<div class='scroll'><table class='verdicts'><tr><th>strategy</th><th>compared with</th><th>Δ {metric} (points, mean ± std)</th>"
        "<th>95% t-interval (unadjusted)</th><th>paired t-test p</th><th>Holm-adjusted p</th><th>verdict</th>"
        "<th>cost: train seconds (vs reference)</th></tr>"
    ]
    for cmp in comparisons:
        p, holm = cmp["p_ttest"], cmp.get("p_holm")
        word = cmp.get("verdict", "")
        rows.append(
            f"<tr class='row' data-strategy='{html.escape(cmp['strategy'])}'><td>{html.escape(cmp['strategy'])}</td>"
            f"<td>{html.escape(cmp['reference'])}</td><td>{100 * cmp['mean_diff']:+.1f} ± {100 * cmp['std_diff']:.1f}</td>"
            f"<td>{_interval(cmp)}</td><td>{_p(p, cmp.get('kind'))}</td>"
            f"<td>{_p(holm, cmp.get('kind'))}</td><td class='{_verdict_class(word)}'>{html.escape(word)}</td>"
            f"<td>{_cost(strategies or {}, cmp['strategy'], cmp['reference'])}</td></tr>"
        )
    return "".join(rows) + "</table></div>"


def _interval(cmp: dict) -> str:
    if cmp.get("ci_low") is None or cmp.get("ci_high") is None:
        return "–"
    return f"[{100 * cmp['ci_low']:+.1f}, {100 * cmp['ci_high']:+.1f}]"


def _cost(strategies: dict, name: str, reference: str) -> str:
    seconds = {n: strategies.get(n, {}).get("train_seconds", {}).get("mean") for n in (name, reference)}
    if seconds[name] is None or seconds[reference] is None:
        return "–"
    return f"{seconds[name]:.1f} ({seconds[reference]:.1f})"


def _p(value: float | None, kind: str | None) -> str:
    if kind == "constant":
        return "→ 0 (zero spread)"
    return "–" if value is None else f"{value:.3g}"


def _verdict_class(line: str) -> str:
    if line.startswith("significant gain"):
        return "gain"
    if line.startswith("significant loss"):
        return "loss"
    if line.startswith("inconclusive"):
        return "inconclusive"
    return "none"


def build_report(
    summary: dict, figures: list[tuple[Path, str]], path: str | Path, title: str = "genclf report"
) -> Path:
    """Write ``report.html`` from ``summary.json``'s content and a list of (png, caption)."""
    metric = summary.get("primary_metric", "macro_f1")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
    ]
    cfg = summary["config"]
    parts.append(
        f"<h1>{html.escape(title)}</h1><p class='sub'>data <b>{html.escape(str(cfg['data']['spec']))}</b>, seeds {summary['seeds']}, classifier budgets {summary['budgets']}, metric <b>{metric}</b></p>"
    )
    failed = summary.get("failed_cells", [])
    if failed:
        listed = "".join(
            f"<li>{html.escape(str(f['strategy']))} k={html.escape(str(f['k_per_class'] if f['k_per_class'] is not None else 'all'))} "
            f"seed {f['seed']}: <code>{html.escape(f['error'])}</code></li>"
            for f in failed
        )
        parts.append(
            f"<div class='warning'>&#9888; {len(failed)} cell(s) failed and are missing from every table below "
            f"(details in failed.json; running the same command again retries them):<ul>{listed}</ul></div>"
        )
    parts.append("<h2 id='verdicts'>Verdicts: does generation help here?</h2>")
    for budget, block in summary["budgets_detail"].items():
        parts.append(f"<h3>{html.escape(_budget_label(budget))}</h3>")
        for warning in block.get("warnings", []):
            parts.append(f"<p class='warning'>&#9888; {html.escape(warning)}</p>")
        parts.append(f"<p class='headline'>{html.escape(block['headline'])}</p>")
        if block.get("recommendation"):
            parts.append(f"<p class='headline'><b>{html.escape(block['recommendation'])}</b></p>")
        if block.get("budgets"):
            rows = "".join(
                f"<tr><td>{html.escape(name)}</td><td>{b['epochs']:g}</td><td>{b['steps']:g}</td></tr>"
                for name, b in block["budgets"].items()
            )
            parts.append(
                "<details><summary>Training budgets (classifier epochs and optimizer steps, mean over seeds; "
                "0 = a closed-form head on frozen features)</summary><div class='scroll'><table><tr><th>strategy"
                f"</th><th>epochs</th><th>steps</th></tr>{rows}</table></div></details>"
            )
        comparisons = block["comparisons"]
        if comparisons and all(c.get("kind") == "untested" for c in comparisons):
            parts.append(
                "<p class='note'>One seed: no difference can be tested, so no row below has a verdict or an "
                "interval; run several seeds (<code>--seeds 0 1 2</code>) for verdicts.</p>"
            )
        gains = [(png, c) for png, c in figures if c.startswith("gains:") and c.endswith(f"budget {budget}")]
        parts.extend(_img(png, caption) for png, caption in gains if png.is_file())
        parts.append(_verdict_table(comparisons, metric, block["strategies"]))
    parts.append(
        "<p class='note'>Each verdict pairs runs by seed (same labeled images) and, in a grid of several classifiers, "
        "compares each row only with the baseline and best classical strategy of its own classifier; it tests the "
        "per-seed differences with a paired "
        "t-test and gives that test's own 95% interval of the mean difference (it excludes 0 exactly when the unadjusted "
        "p is below 0.05). The p-values of all strategies compared with the same reference in one budget are "
        "Holm-adjusted and the verdict reads the adjusted one, so an interval that excludes 0 beside 'no significant "
        "difference' means the gain did not survive the correction for the number of strategies compared. Differences under 1e-9 count as "
        "none; the same difference on every seed (zero spread) is reported as such, with the t-test's limiting p -> 0. "
        "Wilcoxon's signed-rank test (summary.json) is given from 6 seeds on, where it can reach p < 0.05. With one seed "
        "nothing is tested. With few seeds only large, consistent differences reach significance; 'no significant "
        "difference' means the data cannot tell, not that there is none.</p>"
    )
    parts.append("<h2 id='results'>Results (mean ± std over seeds)</h2>")
    columns = [
        "accuracy",
        "macro_f1",
        "macro_precision",
        "macro_recall",
        "acsa",
        "gmean",
        "roc_auc_ovr",
        "log_loss",
        "ece",
        "train_seconds",
    ]
    for budget, block in summary["budgets_detail"].items():
        parts.append(f"<h3>{html.escape(_budget_label(budget))}</h3>")
        parts.append(_stat_table(block["strategies"], columns, block.get("roles")))
    parts.append(
        "<p class='note'>acsa: average class-specific accuracy (mean per-class recall); gmean: geometric mean of the "
        "per-class recalls; ece: expected calibration error, 15 bins.</p>"
    )
    strips = sorted([(png, caption) for png, caption in figures if caption.startswith("colorized:")], key=_budget_order)
    colour_blocks = {b: colorization_rows(block["strategies"]) for b, block in summary["budgets_detail"].items()}
    if any(colour_blocks.values()) or strips:
        parts.append("<h2 id='colorization'>Colorization: grey frames made colour again</h2>")
        for budget, rows in colour_blocks.items():
            if rows:
                parts.append(f"<h3>{html.escape(_budget_label(budget))}</h3>")
                parts.append(_stat_table(rows, list(COLORIZATION)))
        parts.append(
            "<p class='note'>recovered_share: (accuracy on colorized grey frames − accuracy on grey frames) / "
            "(accuracy on colour − accuracy on grey frames), all with the same colour-trained classifier; 1 = the "
            "whole drop recovered, 0 = none, below 0 = the colorizer made it worse. Compare the row's accuracy "
            "with [grey-trained] above: a classifier simply trained on grey frames. psnr / ssim: the colorized test "
            "images against the original colour; *_grey_baseline: grey copied to three channels against the same.</p>"
        )
        parts.extend(_img(png, caption) for png, caption in strips if png.is_file())
    main = [
        (png, caption)
        for png, caption in figures
        if not caption.startswith(ROBUSTNESS_CAPTIONS + GENERATOR_CAPTIONS + ("gains:",))
    ]
    extra = [(png, caption) for png, caption in figures if caption.startswith(ROBUSTNESS_CAPTIONS)]
    grids = sorted(
        [(png, caption) for png, caption in figures if caption.startswith("generated samples:")], key=_budget_order
    )
    if summary.get("generators") or grids:
        parts.append("<h2 id='generators'>Generators: do they work?</h2>")
        parts.append(_generator_table(summary.get("generators", [])))
        parts.append(
            "<p class='note'>Every generator a run trains is checked on the real validation split. CAS: macro-F1 of "
            "the run's classifier trained on generated images only (as many per class as there are labeled images), "
            "next to real_macro_f1, the same recipe on the real labeled images, and chance_macro_f1, a classifier "
            "that says the majority class for every image. FID, KID, precision, recall and "
            "coverage compare generated and validation images in the feature space of that real-data classifier "
            "(fid_floor: labeled vs validation images); for colour images fid_imagenet is the same in "
            "EfficientNet-Lite0's ImageNet embeddings and, with evaluation.inception_fid, fid_inception in "
            "the standard Inception-V3's. Rows features_*: generators of the backbone's embeddings, compared "
            "in that embedding space. min_diversity: the lowest "
            "per-class ratio of generated to real pairwise distances. A generator has failed its check when CAS is "
            f"under {summary['config']['evaluation']['generator_min_cas_ratio']:g} x real_macro_f1, at chance, or a class's "
            f"diversity under {summary['config']['evaluation']['generator_min_diversity']:g}; strategies using it "
            "get the verdict 'inconclusive'. generator_images / pseudo_labeled: what it learned from (labeled "
            "images plus confident pseudo-labels of the unlabeled pool).</p>"
        )
        parts.extend(_img(png, caption) for png, caption in grids if png.is_file())
    parts.append("<h2 id='figures'>Figures</h2>")
    parts.extend(_img(png, caption) for png, caption in main if png.is_file())
    parts.append("<h2 id='robustness'>Robustness and calibration</h2>")
    for budget, block in summary["budgets_detail"].items():
        parts.append(f"<h3>{html.escape(_budget_label(budget))}</h3>")
        robust = block.get("robustness")
        if robust:
            parts.append(f"<p class='headline'>{html.escape(robust['headline'])}</p>")
            parts.append(_verdict_table(robust["comparisons"], "corruption_accuracy"))
        first = next(iter(block["strategies"].values()), {})
        attack_columns = [c for c in first if c.startswith(("fgsm_acc@", "pgd_acc@"))]
        robust_columns = ["accuracy", "corruption_accuracy", "mce", *attack_columns, "ece", "ece_scaled", "log_loss"]
        parts.append(_stat_table(block["strategies"], robust_columns))
    if not any(b.get("robustness") for b in summary["budgets_detail"].values()):
        parts.append(
            "<p class='note'>Corruption and adversarial robustness were not measured in this run: set "
            "<code>evaluation.robustness: true</code> (and <code>evaluation.adversarial: true</code>) in the config.</p>"
        )
    parts.append(
        "<p class='note'>corruption_accuracy: mean accuracy over the corruptions and severities of the config; mce: "
        "corruption error relative to baseline (1.0 = as robust as baseline, lower is better); ece_scaled: ECE after "
        "temperature scaling fitted on the validation split.</p>"
    )
    parts.extend(_img(png, caption) for png, caption in extra if png.is_file())
    if summary.get("generator_note"):
        parts.append(f"<p class='note'>{html.escape(summary['generator_note'])}</p>")
    parts.append("</body></html>\n")
    return write_text(path, "\n".join(parts))


def _generator_table(rows: list[dict]) -> str:
    shown = [c for c in GENERATOR_COLUMNS if c not in ("cas_ratio", "kid", "pseudo_label_accuracy")]
    columns = [c for c in shown if any(c in r for r in rows)]
    head = "".join(
        f"<th>{html.escape(c)}</th>" for c in ["budget", "generator", "seeds", "CAS per seed", *columns, "check"]
    )
    body = []
    for row in rows:
        per_seed = " ".join(
            f"<span class='{'gain' if s['passed'] else 'loss'}'>{s['seed']}: {s['cas']:.3f} {'✓' if s['passed'] else '✗'}</span>"
            for s in row.get("per_seed", [])
        )
        cells = f"<td>{per_seed or '–'}</td>" + "".join(
            f"<td>{row[c]:.3g}</td>" if c in row else "<td>–</td>" for c in columns
        )
        status = row["status"] if row["status"] == "ok" else f"{row['failed_seeds']} seed(s) {row['status']}"
        body.append(
            f"<tr><td>{html.escape(str(row['budget']))}</td><td>{html.escape(row['generator'])}</td><td>{row['seeds']}</td>"
            f"{cells}<td class='{'none' if row['status'] == 'ok' else 'loss'}'>{html.escape(status)}</td></tr>"
        )
    return f"<div class='scroll'><table class='generators'><tr>{head}</tr>{''.join(body)}</table></div>"


def _stat_table(strategies: dict, columns: list[str], roles: dict[str, str] | None = None) -> str:
    """mean ± std per strategy for the ``columns`` that at least one strategy has (and its role, if given)."""
    columns = [c for c in columns if any(c in entry for entry in strategies.values())]
    role_head = "<th>role</th>" if roles else ""
    rows = [
        f"<div class='scroll'><table><tr><th>strategy</th>{role_head}"
        + "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        + "</tr>"
    ]
    for name, entry in strategies.items():
        role = f"<td>{html.escape(roles.get(name, ''))}</td>" if roles else ""
        cells = "".join(
            f"<td>{entry[c]['mean']:.3f} ± {entry[c]['std']:.3f}</td>" if c in entry else "<td>–</td>" for c in columns
        )
        rows.append(
            f"<tr class='row' data-strategy='{html.escape(name)}'><td>{html.escape(name)}</td>{role}{cells}</tr>"
        )
    return "".join(rows) + "</table></div>"


def _budget_label(budget: str) -> str:
    return "all labeled images" if budget in ("all", "None") else f"{budget} labeled images per class"
