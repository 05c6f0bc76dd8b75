"""The short help of the Lightning subcommands (`transferbench fit --help`); `--help-full` gives every option."""

import argparse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help line, except where there is none to show (required, unset, off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


LIGHTNING_HELP = """usage: transferbench {command} --config FILE [--section.key VALUE ...]

FILE: a YAML config or a packaged name (`transferbench configs`); any key can be overridden with a dotted
flag, e.g. --trainer.max_epochs 5. --print_config prints the resolved config and stops.

Most used:
  --data.root DIR                 data root (the synthetic benchmark is generated there on first use)
  --data.dataset NAME             a registered source (`transferbench data sources`); COVID-19 by default
  --data.fold K                   benchmark fold 0-4;   --data.train_cases N   label budget (nested subsets)
  --data.patch_size [X, Y, Z]     3D patch (two values: 2D slices);   --data.pipeline default|nnunet
  --data.target_spacing [X, Y, Z] mm; null: nnU-Net's rule on the training cases' fingerprint
  --model.net.class_path NAME     unet3d | ncovsegnet | a SegmentationNet import path (`transferbench models`)
  --model.net.init_args.preset P  UNet3D: benchmark | cpu_small | tiny
  --model.optimizer sgd|adam|adamw  --model.lr LR  --model.lr_schedule poly|wsd|cosine|constant|adjust_lr
  --model.test_mirror_axes [0, 1, 2]   test-time mirroring (nnU-Net)
  --strategy.name NAME            transfer strategy (`transferbench strategies`), with --strategy.sources,
                                  --strategy.pretrained PATH, --strategy.key_map {{old.: new.}}
  --trainer.max_epochs N  --trainer.accelerator cpu|gpu  --trainer.devices N  --trainer.precision bf16-mixed
  --trainer.default_root_dir DIR  the run folder (config, checkpoints, logs, per-case results)
  --ckpt_path PATH                resume a fit (or test / predict these weights)
  --overwrite true                fit: replace a previous run in the run folder
  --save_predictions true         also write test predictions as NIfTI

Every option with its type and default: transferbench {command} --help-full
"""

PREDICT_FOLDER_HELP = """Folder mode, as nnUNetv2_predict (a trained run's masks for a folder of volumes):
  transferbench predict -i DIR -o DIR --run RUN_DIR [--checkpoint PATH] [--device cpu|cuda]
  -i, --input DIR                 folder of NIfTI volumes (case.nii.gz or case_0000.nii.gz)
  -o, --output DIR                folder for the masks (<case>.nii.gz, on each input's grid and affine)
  --run RUN_DIR                   a run folder of `transferbench fit` (config.yaml + checkpoints/)
  --checkpoint PATH               default: RUN_DIR/checkpoints/last.ckpt
  --device cpu|cuda               default: cuda when available

Config mode (LightningCLI, the test cases of a config's data):
"""
