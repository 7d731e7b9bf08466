"""A run's report as a pure function of its RunRecord: summary.json, figures/ and report.html.

Nothing here loads a model, samples a generator or reads a run file; ``genclf report RUN_DIR`` re-renders a
finished run from ``RunFolder.load`` alone.
"""

from __future__ import annotations

from genclf.files import write_json
from genclf.reporting.record import ReportPaths, RunRecord
from genclf.reporting.report import build_report
from genclf.reporting.run_figures import make_figures
from genclf.reporting.summary import summarize


def render_run(record: RunRecord, folder: ReportPaths) -> dict:
    """Write summary.json, the figures and report.html of ``record`` into ``folder``; return the summary."""
    summary = summarize(record.results, record.config, record.generators)
    summary["split"] = record.data.get("split", {})
    summary["failed_cells"] = [
        {key: cell[key] for key in ("strategy", "k_per_class", "seed", "error")} for cell in record.failed
    ]
    figures = make_figures(record, summary, folder)
    summary["figures"] = [str(path.relative_to(folder.root)) for path, _ in figures]
    write_json(folder.summary, summary)
    build_report(summary, figures, folder.report, title=f"genclf report: {record.data.get('name', '?')}")
    return summary
