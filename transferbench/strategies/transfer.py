"""Weight transfer you can audit: safe loading, name-and-shape matching, a key report, freezing.

Every tensor a strategy copies is matched by name *and* shape; nothing is loaded silently. The report says
what was loaded, what the target kept fresh (missing), what the checkpoint had that the target lacks
(unexpected), what had another shape (mismatched) and what the strategy chose not to transfer (skipped).
A strategy names the parts it needs (e.g. the whole encoder); if any tensor of a needed part is not
loaded, the transfer fails before training with the keys that are wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from transferbench.errors import TransferError

LIGHTNING_NET_PREFIX = "net."
# prefixes that wrappers add to every key: DistributedDataParallel / DataParallel, torch.compile
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def normalise_keys(
    state: dict[str, torch.Tensor], key_map: dict[str, str] | None = None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Keys of a checkpoint saved by other tools, made comparable to ours; returns (state, what was done).

    Wrapper prefixes (``module.``, ``_orig_mod.``, nested too) are stripped from the front of every key.
    ``key_map`` then renames by prefix, first match wins, in the order given (``{"swinViT.": "encoder."}``;
    ``{"model.": ""}`` drops a prefix): the way MONAI networks and self-supervised checkpoints meet the
    declared ``key_to_encoder`` of ours. Every change is counted in the returned notes (the key report).
    """
    counts: dict[str, int] = {}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key
        while new.startswith(WRAPPER_PREFIXES):
            prefix = next(p for p in WRAPPER_PREFIXES if new.startswith(p))
            counts[f"{prefix} stripped"] = counts.get(f"{prefix} stripped", 0) + 1
            new = new[len(prefix) :]
        for old, repl in (key_map or {}).items():
            if new.startswith(old):
                counts[f"{old} -> {repl or '(nothing)'}"] = (
                    counts.get(f"{old} -> {repl or '(nothing)'}", 0) + 1
                )
                new = repl + new[len(old) :]
                break
        if new in out:
            raise TransferError(f"two checkpoint keys become {new!r} after renaming ({key!r} is the second)")
        out[new] = value
    return out, [f"{what} ({n} keys)" for what, n in counts.items()]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Network weights from a Lightning checkpoint (``state_dict`` with ``net.`` keys), an nnU-Net v2 / nnssl
    checkpoint (``network_weights``) or a plain state dict.

    Loads with ``torch.load(weights_only=True)``: a checkpoint can carry tensors and plain containers only.
    """
    path = Path(path)
    if not path.is_file():
        raise TransferError(
            f"{path}: pretrained checkpoint not found. Train it first with `transferbench fit` on the source "
            f"(its `checkpoints/last.ckpt`), or let `transferbench sweep` plan the pretraining."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises KeyError, RuntimeError, UnpicklingError... on bad files
        raise TransferError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})"
        ) from err
    if isinstance(obj, dict) and isinstance(obj.get("network_weights"), dict):  # nnU-Net v2 / nnssl
        obj = obj["network_weights"]
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
        if any(k.startswith(LIGHTNING_NET_PREFIX) for k in state):
            state = {
                k[len(LIGHTNING_NET_PREFIX) :]: v
                for k, v in state.items()
                if k.startswith(LIGHTNING_NET_PREFIX)
            }
        obj = state
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise TransferError(f"{path}: holds no state dict of tensors (found {type(obj).__name__})")
    return obj


@dataclass
class KeyReport:
    """What one transfer did, per key; ``summary()`` is the one-line log form."""

    part: str
    checkpoint: str
    source_prefix: str
    target_prefix: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    loaded_params: int = 0
    renamed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        src = f"{self.source_prefix}*" if self.source_prefix else "*"
        dst = f"{self.target_prefix}*" if self.target_prefix else "*"
        return (
            f"[transfer] {self.part}: {dst} <- {src} of {self.checkpoint}: loaded {len(self.loaded)} tensors "
            f"({self.loaded_params:,} params), missing {len(self.missing)}, unexpected {len(self.unexpected)}, "
            f"shape-mismatched {len(self.mismatched)}, not transferred {len(self.skipped)}"
            + (f"; keys renamed: {', '.join(self.renamed)}" if self.renamed else "")
        )

    def to_dict(self) -> dict:
        return asdict(self)


def transfer_weights(
    net: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    part: str,
    checkpoint: str,
    source_prefix: str = "",
    target_prefix: str = "",
    required: Sequence[str] = (),
    exempt: Sequence[str] = (),
    key_map: dict[str, str] | None = None,
) -> KeyReport:
    """Copy ``state[source_prefix + k]`` into ``net``'s ``target_prefix + k`` wherever names and shapes match.

    ``required``: target key prefixes that must load completely (every tensor present with the same shape),
    otherwise ``TransferError`` lists the offending keys and nothing is copied. ``exempt``: substrings of
    required keys that may stay fresh (the ECA convs a torchvision ResNet-50 file cannot hold). Keys are
    first passed through ``normalise_keys`` (wrapper prefixes, ``key_map``), and the report says so.
    """
    state, renamed = normalise_keys(state, key_map)
    report = KeyReport(part, str(checkpoint), source_prefix, target_prefix, renamed=renamed)
    target = net.state_dict()
    used: set[str] = set()
    updates: dict[str, torch.Tensor] = {}
    for key, tensor in target.items():
        if not key.startswith(target_prefix):
            continue
        src_key = source_prefix + key[len(target_prefix) :]
        if src_key not in state:
            report.missing.append(key)
            continue
        used.add(src_key)
        if tuple(state[src_key].shape) != tuple(tensor.shape):
            report.mismatched.append((key, list(state[src_key].shape), list(tensor.shape)))
            continue
        updates[key] = state[src_key]
        report.loaded.append(key)
        report.loaded_params += tensor.numel() if tensor.is_floating_point() else 0
    for key in state:
        if key in used:
            continue
        (report.unexpected if key.startswith(source_prefix) else report.skipped).append(key)

    problems = _required_problems(report, target, required, exempt)
    if problems:
        shown = "; ".join(problems[:6]) + (f"; ... ({len(problems) - 6} more)" if len(problems) > 6 else "")
        needed = [k for k in target if k.startswith(tuple(required))]
        raise TransferError(
            f"{checkpoint}: cannot transfer the {part} ({', '.join(required)}): {len(problems)} of "
            f"{len(needed)} tensors do not match, so the checkpoint comes from another architecture or "
            f"configuration: {shown}"
        )
    with torch.no_grad():
        for key, value in updates.items():
            target[key].copy_(value.to(target[key].dtype))
    return report


def _required_problems(
    report: KeyReport, target: dict, required: Sequence[str], exempt: Sequence[str]
) -> list[str]:
    """What keeps a required part from loading completely (missing or mis-shaped tensors)."""

    def needs(k: str) -> bool:
        return k.startswith(tuple(required)) and not any(e in k for e in exempt)

    problems = [f"{k} missing in checkpoint" for k in report.missing if needs(k)] + [
        f"{k} has shape {s} in checkpoint, {t} here" for k, s, t in report.mismatched if needs(k)
    ]
    if required and not any(k.startswith(tuple(required)) for k in target):
        problems.append(f"the network has no parameters under {list(required)}")
    return problems


def freeze(module: nn.Module) -> nn.Module:
    """Fix a pretrained part: no gradients, normalisation layers kept in eval mode (see ``keep_frozen_eval``).

    Freezing only ``requires_grad`` would still let BatchNorm running statistics drift in training mode,
    so the module is marked and the LightningModule puts it back in eval mode after every ``train()``.
    """
    module.requires_grad_(False)
    module.transferbench_frozen = True  # type: ignore[attr-defined]
    module.eval()
    return module


def keep_frozen_eval(root: nn.Module) -> None:
    """Put every frozen part of ``root`` (and so its normalisation layers) back in eval mode."""
    for m in root.modules():
        if getattr(m, "transferbench_frozen", False):
            m.eval()
