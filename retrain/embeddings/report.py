"""The audit's report: audit.json (every finding), summary.txt (readable), one PNG grid per finding
type, and the similar-drawings grid. Drawings are shown as the model sees them (rendered/decoded by
retrain/data/images.py), with names and distances under each."""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from retrain.model_folder import contract as outputs
from retrain.embeddings.audit import AuditConfig, AuditResult, Mislabel, Outlier, Pair

THUMB = 96          # pixels per drawing in the grids
MAX_GRID_ITEMS = 48  # findings drawn per grid (all of them are in audit.json)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Model input in [-1, 1] (or uint8) -> uint8 RGB."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * 127.5 + 127.5), 0, 255).astype(np.uint8)
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


FONT_SIZE = 13       # pixels: readable at 100% (PIL's built-in bitmap font is ~8 px)
CELL_WIDTH = 170     # pixels per column: room for a "label/file.jpg#row" caption on two or three lines


def _font(size: int = FONT_SIZE):
    """A scalable TrueType font (Pillow's bundled one), or the bitmap default where FreeType is absent."""
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Lines of `text` no wider than `width` pixels: breaks at spaces and slashes, and inside a word
    only when it alone is too wide (a file name is shown whole, never cut off)."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for piece in re.split(r"(?<=[ /])", paragraph):
            candidate = line + piece
            if line and draw.textlength(candidate, font=font) > width:
                lines.append(line.rstrip())
                line = piece
            else:
                line = candidate
            while draw.textlength(line, font=font) > width and len(line) > 1:
                cut = len(line) - 1
                while cut > 1 and draw.textlength(line[:cut], font=font) > width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line.rstrip())
    return lines


def grid_png(rows: Sequence[Sequence[tuple[np.ndarray, str]]], title: str) -> bytes:
    """A PNG grid: each row a list of (image, caption); captions are wrapped, never cut."""
    from PIL import Image, ImageDraw
    font, title_font = _font(), _font(FONT_SIZE + 2)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad, line_h = 6, FONT_SIZE + 4
    columns = max((len(r) for r in rows), default=1)
    captions = [[_wrap(scratch, caption, font, CELL_WIDTH - 2 * pad) for _, caption in row] for row in rows]
    caption_h = [line_h * max((len(c) for c in row), default=1) + pad for row in captions]
    width = max(columns * CELL_WIDTH, 400)
    title_lines = _wrap(scratch, title, title_font, width - 2 * pad)
    title_h = (FONT_SIZE + 6) * len(title_lines) + pad
    height = title_h + sum(THUMB + pad + h for h in caption_h) if rows else title_h + THUMB
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(title_lines):
        draw.text((pad, pad + (FONT_SIZE + 6) * n), line, fill="black", font=title_font)
    y = title_h
    for r, row in enumerate(rows):
        for c, (image, _) in enumerate(row):
            thumb = Image.fromarray(_to_uint8(image)).resize((THUMB, THUMB), Image.NEAREST)
            x = c * CELL_WIDTH + pad
            canvas.paste(thumb, (x, y))
            draw.rectangle([x - 1, y - 1, x + THUMB, y + THUMB], outline=(180, 180, 180))
            for line_no, line in enumerate(captions[r][c]):
                draw.text((x, y + THUMB + 3 + line_h * line_no), line, fill="black", font=font)
        y += THUMB + pad + caption_h[r]
    import io
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def _short(name: str) -> str:
    """The drawing's name as splits.json has it (label/file, or label/file.npy#row): enough to find it."""
    return name


def finding_rows(kind: str, findings: list, records, splits, labels, images: dict) -> list:
    """Grid rows of one finding type: a pair per row, or a drawing with its label story."""
    rows = []
    for item in findings[:MAX_GRID_ITEMS]:
        if isinstance(item, Pair):
            a, b = records[item.a], records[item.b]
            rows.append([(images[item.a], f"{a.label}\n{_short(a.relpath)} {splits[item.a][:5]}"),
                         (images[item.b], f"{b.label} cos {item.cosine:.3f}\n{_short(b.relpath)} {splits[item.b][:5]}")])
        elif isinstance(item, Mislabel):
            rows.append([(images[item.index], f"{labels[item.given]}->{labels[item.suggested]}\n"
                                              f"vote {item.vote:.0%} {_short(records[item.index].relpath)}")])
        elif isinstance(item, Outlier):
            rows.append([(images[item.index], f"{labels[item.label]} z {item.z:.1f}\n"
                                              f"{_short(records[item.index].relpath)}")])
    # Single drawings: 8 to a row, so a grid of mislabels is not one long column.
    if rows and len(rows[0]) == 1:
        flat = [cell for row in rows for cell in row]
        rows = [flat[i:i + 8] for i in range(0, len(flat), 8)]
    return rows


def finding_json(item, records, splits, labels) -> dict:
    if isinstance(item, Pair):
        return {"a": records[item.a].relpath, "b": records[item.b].relpath, "cosine": round(item.cosine, 5),
                "labels": [records[item.a].label, records[item.b].label], "exact": item.exact,
                "splits": [splits[item.a], splits[item.b]] if splits else None}
    if isinstance(item, Mislabel):
        return {"name": records[item.index].relpath, "given": labels[item.given],
                "suggested": labels[item.suggested], "vote": round(item.vote, 3),
                "own_vote": round(item.own_vote, 3), "split": splits[item.index] if splits else None}
    return {"name": records[item.index].relpath, "label": labels[item.label],
            "centroid_cosine": round(item.centroid_cosine, 4), "z": round(item.z, 2)}


def summary_text(kinds: dict, records, labels, config: AuditConfig, source: str) -> str:
    lines = [f"Audit of {len(records)} drawings in {len(labels)} classes ({source})",
             f"k={config.k}, near duplicate at distance <= {config.near_duplicate_ratio} x the k-th "
             f"neighbour's and cosine >= {config.near_duplicate_cosine}, mislabel when >= "
             f"{config.mislabel_vote:.0%} of neighbours agree on another class and <= "
             f"{config.mislabel_own_vote:.0%} have the given label, outlier robust z <= -{config.outlier_z}", ""]
    for kind, findings in kinds.items():
        lines.append(f"{kind.replace('_', ' '):32s} {len(findings):6d}")
    lines.append("")
    for kind, findings in kinds.items():
        if findings:
            lines.append(f"{kind} (first 10, all in audit.json, drawn in {kind}.png):")
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
        outputs.atomic_write_bytes(written[kind], grid_png(finding_rows(kind, findings, records, splits,
                                                                         labels, images), title))
    return written
