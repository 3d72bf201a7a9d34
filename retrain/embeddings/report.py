"""The audit's report: audit.json (every finding), summary.txt (readable), one PNG grid per finding
type, and the similar-drawings grid. Drawings are shown as the model sees them (rendered/decoded by
retrain/data/images.py), with names and distances under each."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from retrain.model_folder import contract as outputs
from retrain.embeddings.audit import AuditConfig, AuditResult, Outlier, Pair
from retrain.embeddings.label_errors import LabelError

THUMB = 96          # pixels per drawing in the grids
MAX_GRID_ITEMS = 48  # findings drawn per grid (all of them are in audit.json)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Model input in [-1, 1] (or uint8) -> uint8 RGB."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * 127.5 + 127.5), 0, 255).astype(np.uint8)
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


FONT_SIZE = 13  # pixels: readable at 100% (Pillow's built-in bitmap font is ~8 px high)


def _font(size: int = FONT_SIZE):
    """Pillow's bundled scalable font at `size`, or its bitmap font where FreeType is missing."""
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def wrap(text: str, width: float, measure) -> list[str]:
    """`text` broken into lines no wider than `width` (by `measure`), at "/", "_", " " or "#" when
    possible, else mid-word: a caption is wrapped, never cut, so a file can be found from the picture."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for char in paragraph:
            if measure(line + char) <= width or not line:
                line += char
                continue
            cut = max(line.rfind(c) for c in "/_ #")
            if cut > 0:  # break after the separator, carry the rest of the word
                lines.append(line[:cut + 1])
                line = line[cut + 1:] + char
            else:
                lines.append(line)
                line = char
        lines.append(line)
    return lines


def grid_png(rows: Sequence[Sequence[tuple[np.ndarray, str]]], title: str) -> bytes:
    """A PNG grid: each row a list of (image, caption); captions wrap to the cell's width, and each
    row is as tall as its longest caption."""
    from PIL import Image, ImageDraw
    font, title_font = _font(FONT_SIZE), _font(FONT_SIZE + 1)
    columns = max((len(r) for r in rows), default=1)
    pad, line_h = 4, FONT_SIZE + 4
    cell_w = THUMB + 74 + 2 * pad  # wider than the picture: room for a class name on one line
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength
    wrapped = [[wrap(caption, cell_w - 2 * pad, lambda t: measure(t, font=font)) for _, caption in row]
               for row in rows]
    heights = [THUMB + 2 * pad + line_h * max((len(c) for c in row), default=0) for row in wrapped]
    width = max(columns * cell_w, 400)
    title_lines = wrap(title, width - 2 * pad, lambda t: measure(t, font=title_font))
    title_h = (FONT_SIZE + 6) * len(title_lines) + 2 * pad
    canvas = Image.new("RGB", (width, title_h + max(sum(heights), 1)), "white")
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(title_lines):
        draw.text((pad, pad + (FONT_SIZE + 6) * n), line, fill="black", font=title_font)
    y = title_h
    for row, captions, height in zip(rows, wrapped, heights):
        for c, ((image, _), lines) in enumerate(zip(row, captions)):
            thumb = Image.fromarray(_to_uint8(image)).resize((THUMB, THUMB), Image.NEAREST)
            x = c * cell_w + pad
            canvas.paste(thumb, (x + (cell_w - 2 * pad - THUMB) // 2, y))
            draw.rectangle([x + (cell_w - 2 * pad - THUMB) // 2 - 1, y - 1,
                            x + (cell_w - 2 * pad - THUMB) // 2 + THUMB, y + THUMB], outline=(180, 180, 180))
            for line_no, line in enumerate(lines):
                draw.text((x, y + THUMB + 2 + line_h * line_no), line, fill="black", font=font)
        y += height
    import io
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def finding_rows(findings: list, records, splits, labels, images: dict) -> list:
    """Grid rows of one finding type: a pair per row, or single drawings 6 to a row. Captions carry
    the full record name ("cat/img_0001.jpg", or "<class>/<file>#<row>" for QuickDraw files)."""
    rows = []
    for rank, item in enumerate(findings[:MAX_GRID_ITEMS], 1):
        if isinstance(item, Pair):
            a, b = records[item.a], records[item.b]
            where = (lambda i: f" ({splits[i]})") if splits else (lambda i: "")
            rows.append([(images[item.a], f"{a.label}\n{a.relpath}{where(item.a)}"),
                         (images[item.b], f"{b.label}, cosine {item.cosine:.3f}\n{b.relpath}{where(item.b)}")])
        elif isinstance(item, LabelError):
            rows.append([(images[item.index], f"#{rank} score {item.score:.3f} margin {item.margin:+.2f}\n"
                                              f"given: {labels[item.given]}\n"
                                              f"suggested: {labels[item.suggested]}\n"
                                              f"{records[item.index].relpath}")])
        elif isinstance(item, Outlier):
            rows.append([(images[item.index], f"{labels[item.label]}, z {item.z:.1f}\n"
                                              f"{records[item.index].relpath}")])
    # Single drawings: 6 to a row, so a grid of label errors is not one long column.
    if rows and len(rows[0]) == 1:
        flat = [cell for row in rows for cell in row]
        rows = [flat[i:i + 6] for i in range(0, len(flat), 6)]
    return rows


def finding_json(item, records, splits, labels) -> dict:
    if isinstance(item, Pair):
        return {"a": records[item.a].relpath, "b": records[item.b].relpath, "cosine": round(item.cosine, 5),
                "labels": [records[item.a].label, records[item.b].label], "exact": item.exact,
                "splits": [splits[item.a], splits[item.b]] if splits else None}
    if isinstance(item, LabelError):
        return {"name": records[item.index].relpath, "given": labels[item.given],
                "suggested": labels[item.suggested], "score": round(item.score, 4),
                "margin": round(item.margin, 4), "p_given": round(item.given_probability, 4),
                "p_suggested": round(item.suggested_probability, 4),
                "split": splits[item.index] if splits else None}
    return {"name": records[item.index].relpath, "label": labels[item.label],
            "centroid_cosine": round(item.centroid_cosine, 4), "z": round(item.z, 2)}


def summary_text(kinds: dict, records, labels, config: AuditConfig, source: str) -> str:
    lines = [f"Audit of {len(records)} drawings in {len(labels)} classes ({source})",
             f"k={config.k}, near duplicate at distance <= {config.near_duplicate_ratio} x the k-th "
             f"neighbour's and cosine >= {config.near_duplicate_cosine}; label errors by confident learning "
             f"on {config.folds}-fold out-of-sample probabilities, reported from score "
             f"{config.label_error_score} (score = 1 - p(given label)), ranked by margin p(given) - "
             f"p(suggested), most negative first; outlier robust z <= "
             f"-{config.outlier_z}", ""]
    for kind, findings in kinds.items():
        lines.append(f"{kind.replace('_', ' '):32s} {len(findings):6d}")
    lines.append("")
    for kind, findings in kinds.items():
        if findings:
            lines.append(f"{kind} (first 10{', best first' if kind == 'label_error' else ''}, all in "
                         f"audit.json, drawn in {kind}.png):")
            for item in findings[:10]:
                data = finding_json(item, records, (), labels)
                lines.append("  " + ", ".join(f"{k}={v}" for k, v in data.items() if v is not None))
    return "\n".join(lines) + "\n"


def write_audit_report(result: AuditResult, records, splits, labels, out_dir: str, config: AuditConfig,
                       source: str, image_size: int = 64) -> dict[str, str]:
    """Writes audit.json, summary.txt and <finding type>.png into `out_dir`; returns name -> path."""
    from retrain.data.images import load_record_images
    os.makedirs(out_dir, exist_ok=True)
    kinds = result.by_kind()
    written = {}
    data = {"source": source, "drawings": len(records), "labels": list(labels),
            "config": config, "counts": {k: len(v) for k, v in kinds.items()},
            "findings": {k: [finding_json(i, records, splits, labels) for i in v] for k, v in kinds.items()}}
    written["json"] = os.path.join(out_dir, "audit.json")
    outputs.write_json(data, written["json"])
    text = summary_text(kinds, records, labels, config, source)
    written["summary"] = os.path.join(out_dir, "summary.txt")
    outputs.atomic_write_bytes(written["summary"], text.encode("utf-8"))
    for kind, findings in kinds.items():
        if not findings:
            continue
        shown = findings[:MAX_GRID_ITEMS]
        needed = sorted({i for f in shown for i in ((f.a, f.b) if isinstance(f, Pair) else (f.index,))})
        images = dict(zip(needed, load_record_images([records[i] for i in needed], image_size)))
        title = f"{kind.replace('_', ' ')}: {len(findings)}" + \
                (f" (first {len(shown)} shown)" if len(shown) < len(findings) else "")
        written[kind] = os.path.join(out_dir, f"{kind}.png")
        outputs.atomic_write_bytes(written[kind], grid_png(finding_rows(findings, records, splits, labels,
                                                                         images), title))
    return written
