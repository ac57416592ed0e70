//! The command line, declared with clap (derive): the verbs (here) and their flags and help
//! texts (`verbs`), the parsers of flag values (`values`), and [`parse`], which turns clap's
//! multi-line errors into one [`CliError`](crate::CliError) line naming the flag
//! ([`clap_error`], in `errors`) and prints help, version and usage through
//! [`crate::out`](mod@crate::out).
//!
//! The value parsers return a sentence without the flag (`expected a positive integer, got
//! `0``); [`clap_error`] puts the flag in front (`--threads: expected ...`).

// The flags' doc comments are their --help texts, which show placeholders such as `D1/<stem>.npy`
// literally: not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod errors;
#[cfg(test)]
mod tests;
mod values;
mod verbs;

pub use errors::{clap_error, parse};
pub use values::*;
pub use verbs::*;

use clap::builder::styling::Styles;
use clap::{ArgAction, ColorChoice, CommandFactory, Parser, Subcommand};

/// The help layout of every verb: the usage line first, then the description and the flags.
const VERB_TEMPLATE: &str = "usage: {usage}\n\n{about-with-newline}\n{all-args}{after-help}";

/// The help layout of `segloss --help`.
const MAIN_TEMPLATE: &str = "{about-with-newline}\nusage: {usage}\n\n{all-args}{after-help}";

/// The width help text is wrapped to, whatever the terminal: the same text everywhere.
pub const HELP_WIDTH: usize = 100;

/// The largest `--threads`.
pub const MAX_THREADS: usize = 4096;

const EXIT_CODES: &str = "Exit codes: 0 success, 2 bad input (one `error: ...` line on stderr naming the file or flag).";

/// `segloss`: image-segmentation losses with analytic gradients on SIMD CPU kernels.
#[derive(Debug, Parser)]
#[command(
    name = "segloss",
    version,
    about = "segloss: image-segmentation losses with analytic gradients on SIMD CPU kernels",
    after_long_help = EXIT_CODES,
    subcommand_required = true,
    disable_help_flag = true,
    subcommand_value_name = "VERB",
    subcommand_help_heading = "Verbs",
)]
pub struct Cli {
    /// The verb and its arguments.
    #[command(subcommand)]
    pub verb: Verb,
    /// Print help (`segloss VERB --help`: the help of a verb)
    #[arg(short = 'h', long = "help", global = true, action = ArgAction::HelpLong)]
    pub help: Option<bool>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// The catalogue of losses: names, keys with defaults, formulas
    ///
    /// Prints the catalogue: each loss's name, its family, its one-line formula, the modes it
    /// accepts, whether it takes a weight, and its keys with their defaults (`required` when a key
    /// has none). Spec strings combine them: `focal:gamma=2,alpha=0.25`, `bce+dice`,
    /// `0.5*ce+lovasz_softmax:classes=all`.
    List(ListArgs),
    /// The loss (and optionally its gradient) of a prediction against a target
    ///
    /// Prints the loss SPEC (e.g. `bce`, `focal:gamma=2,alpha=0.25`, `bce+dice`; see `segloss
    /// list`) of the prediction P against the target T: one pair with --pred and --target, or
    /// every pair of two folders with --pred-dir and --target-dir.
    #[command(after_long_help = EVAL_AFTER)]
    Eval(EvalArgs),
    /// Time forward + backward of a loss on generated data
    ///
    /// Times forward plus backward (forward_backward_into a preallocated gradient buffer) of
    /// TARGET, a loss spec (e.g. `bce`, `focal:gamma=2`, `bce+dice`), on deterministic data of
    /// pred's shape --shape (e.g. 8,1,256,256): for C = 1 (axis 1) binary float targets with 30%
    /// positives, otherwise integer labels [N, *S] in [0, C). distance_bce gets a per-pixel weight
    /// map. Without --iters the runs are time-based (0.2 s of warm-up runs, then timed runs until
    /// at least 1 s and 50 runs, or 20 s and 10 runs, have passed). Prints the number of runs, the
    /// fastest, median and 90th-percentile times in ms, their spread (p90 / fastest, flagged as
    /// unsteady above 1.3) and the throughput in millions of pred elements per second at the
    /// median.
    ///
    /// TARGET `edt` times the distance transform and `unet_weights` the U-Net weight map (from the
    /// connected components of a mask) on a mask of touching discs (balls), --shape [H, W] or [D,
    /// H, W].
    ///
    /// --roofline also times, in the same run, on the same data and threads, the least work any
    /// such loss does: a stream that reads pred and the target and writes a gradient of pred's
    /// shape, and, for lovasz_hinge and lovasz_softmax, an 8-bit LSD radix sort of 32-bit keys,
    /// one sort per (image, channel) of S keys. For edt and unet_weights the stream reads the
    /// mask and writes an f32 map of its shape. Each limit's fraction is its median time over the
    /// loss's: 1 is the loss at the speed of the bare memory traffic (or the bare sort).
    Bench(BenchArgs),
    /// A synthetic batch of cells: every loss of the catalogue, and PNG pictures
    ///
    /// Builds a deterministic synthetic batch (no download): 4 images of 256 x 256 pixels of
    /// touching cell-like discs and ellipses, as a binary mask [4, 1, 256, 256] and as 3-class
    /// labels [4, 256, 256] (0 background, 1 cell interior, 2 cell border), with noisy logits for
    /// each. Computes every loss of the catalogue that accepts the data (binary losses on the mask,
    /// multiclass ones on the labels; losses taking both appear twice) and prints a table: spec,
    /// data, value, gradient L2 norm, time in ms (median of 3), M pred elements/s and `onnx diff`:
    /// each row's loss is also exported as an ONNX graph (`segloss export`, rank 4, opset 17; with
    /// a per-pixel `weight` input for the weighted rows), run in tract on the same data, and the
    /// column is |onnx - native| of the value. Losses that need more than the data are listed as
    /// skipped with the reason. distance_bce runs on the binary batch with the distance map (edt of
    /// the mask) as its weight (data `bin+edt`), and bce once more weighted by the U-Net weight map
    /// of the cells (data `bin+unet`).
    #[command(after_long_help = DEMO_AFTER)]
    Demo(DemoArgs),
    /// The exact Euclidean distance transform of a mask
    ///
    /// The exact Euclidean distance transform of MASK: for every nonzero pixel, the distance to the
    /// nearest zero pixel; 0 on zero pixels; +inf everywhere if the mask has no zero pixel (anchor:
    /// scipy ndimage.distance_transform_edt(mask, sampling=spacing)).
    Edt(EdtArgs),
    /// The U-Net weight map of instance labels or a mask
    ///
    /// The U-Net weight map (Ronneberger et al. 2015, eq. 2): w = w_c + w0 exp(-(d1 + d2)^2 / (2
    /// sigma^2)) on background pixels, w_c on object pixels, with d1, d2 the distances to the
    /// nearest and the second-nearest object.
    WeightMap(WeightMapArgs),
    /// The distance map of the boundary loss for a target: the ONNX graph's `boundary_map` input
    ///
    /// Writes phi, the map the `boundary` loss multiplies the probabilities by (Kervadec et al.
    /// 2019), for each image and channel the loss keeps (0 on the others): outside the object G
    /// the distance to the nearest pixel of G, inside it 1 minus the distance to the nearest
    /// pixel outside (0 on the inner border, negative deeper in), 0 when G is empty or full;
    /// distances in units of the spec's `spacing`. The loss equals sum(p * phi) / (N |K| |S|); the
    /// ONNX graph of a spec with `boundary` (`segloss export`) takes this array as its input
    /// `boundary_map`.
    BoundaryMap(BoundaryMapArgs),
    /// A loss as an ONNX graph, standalone or attached to a model's output
    ///
    /// Writes the loss SPEC (e.g. `bce`, `focal:gamma=2`, `0.5*ce+dice`; see `segloss list`) as an
    /// ONNX graph computing the same value as `segloss eval` (float32, opset 13 to 21).
    ///
    /// Without --attach: a standalone model with inputs `pred` (float [N, C, *S]), `target` (float
    /// of pred's shape for binary/multilabel, int64 labels [N, *S] for multiclass) and, with
    /// --with-weight, `weight`; output `loss` (a scalar; also `loss_map` for a single term with
    /// reduction=none). N and the spatial sizes are symbolic; C is symbolic unless fixed (1 for
    /// binary, --classes, or the length of class_weights).
    ///
    /// With --attach MODEL.onnx --to OUTPUT: MODEL's output OUTPUT becomes `pred`; `target` (and
    /// `weight`) are added as inputs and `loss` as an output (MODEL's outputs stay); every added
    /// name starts with the prefix. MODEL's opset is kept (13 or more); the rank defaults to
    /// OUTPUT's declared rank.
    ///
    /// Prints one line: the file written, its inputs and outputs with their types and shapes.
    #[command(after_long_help = EXIT_CODES)]
    Export(ExportArgs),
    /// The shell completion script of segloss, on stdout
    ///
    /// Prints the completion script for SHELL on stdout, e.g. `segloss completions bash >
    /// ~/.local/share/bash-completion/completions/segloss`, `segloss completions zsh >
    /// ~/.zfunc/_segloss` (with ~/.zfunc in fpath), `segloss completions fish >
    /// ~/.config/fish/completions/segloss.fish`.
    Completions(CompletionsArgs),
}

const EVAL_AFTER: &str = "\
Folder mode pairs D1/<stem>.npy with D2/<stem>.npy or D2/<stem>.png (and D3/<stem>.npy), prints
one line per file (stem, loss) and the mean, shows a progress bar on stderr when stderr is a
terminal, reports a bad file on stderr and goes on; exits with 2 at the end if any file failed.

Exit codes: 0 success, 2 bad input (one `error: ...` line on stderr naming the file or flag).";

const DEMO_AFTER: &str = "\
Writes into DIR the ONNX graph of each row, DIR/<loss>_<data>.onnx (every character other than
letters and digits replaced by `_`, e.g. wce_beta_2_binary.onnx, distance_bce_bin_edt.onnx), and,
as PNG pictures of the 4 images in a 2 x 2 grid:
  mask.png          the binary mask (legend: 0, 1)
  labels.png        the 3-class labels (legend: 0, 1, 2)
  prediction.png    sigmoid of the binary logits (heat map, colour bar from 0 to 1)
  distance.png      the distance map: edt of the mask (heat map with colour bar)
  unet_weights.png  the U-Net weight map (w0 = 10, sigma = 5, balanced; heat map with colour bar)";

/// The command line as a [`clap::Command`]: the derived one, with help wrapped to
/// [`HELP_WIDTH`], no colours, and the usage line first in every verb's help.
pub fn command() -> clap::Command {
    Cli::command()
        .term_width(HELP_WIDTH)
        .color(ColorChoice::Never)
        .styles(Styles::plain())
        .help_template(MAIN_TEMPLATE)
        .mut_subcommands(|c| c.help_template(VERB_TEMPLATE))
}

/// The verbs, in the order of `segloss --help`.
pub fn verbs() -> Vec<String> {
    command().get_subcommands().map(|c| c.get_name().to_string()).collect()
}
