//! The command line, declared with clap (derive): the verbs, their flags and help texts, the
//! parsers of flag values, and [`parse`], which turns clap's multi-line errors into one
//! [`CliError`] line naming the flag ([`clap_error`]) and prints help, version and usage through
//! [`crate::out`](mod@crate::out).
//!
//! The value parsers return a sentence without the flag (`expected a positive integer, got
//! `0``); [`clap_error`] puts the flag in front (`--threads: expected ...`).

// The flags' doc comments are their --help texts, which show placeholders such as `D1/<stem>.npy`
// literally: not HTML.
#![allow(rustdoc::invalid_html_tags)]

use crate::out::clip;
use crate::CliError;
use clap::builder::styling::Styles;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Args, ColorChoice, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, ValueHint};
use segloss::distance::{ClassWeights, UnetWeightConfig};

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
    /// map. Prints the median time in ms and the throughput in millions of pred elements per
    /// second.
    ///
    /// TARGET `edt` times the distance transform and `unet_weights` the U-Net weight map (from the
    /// connected components of a mask) on a mask of touching discs (balls), --shape [H, W] or [D,
    /// H, W].
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

/// `--threads`, shared by the verbs that compute.
#[derive(Debug, Clone, Args)]
pub struct Threads {
    /// Worker threads (default: all cores; at most 4096)
    #[arg(long, value_name = "N", value_parser = threads, allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

/// `segloss list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Prints one JSON array of {name, family, config, formula, anchor, modes, weight, keys:
    /// [{key, default, doc}], aliases: [{old, new}]}
    #[arg(long)]
    pub json: bool,
}

/// The flags of one pair, which folder mode does not take.
const PAIR_FLAGS: [&str; 4] = ["pred", "target", "weight", "grad_out"];
/// The flags of folder mode, which one pair does not take.
const FOLDER_FLAGS: [&str; 4] = ["pred_dir", "target_dir", "weight_dir", "csv"];

/// `segloss eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// A loss spec string (see `segloss list`)
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// .npy, float32 or float64: logits (or probabilities with from_logits=false), [N, C, *S] with
    /// 1 to 3 spatial axes (or [N, *S] with mode=binary)
    #[arg(long, value_name = "P", value_hint = ValueHint::FilePath, help_heading = "One pair",
          required_unless_present = "pred_dir", conflicts_with_all = FOLDER_FLAGS)]
    pub pred: Option<String>,
    /// .npy: float32/float64 targets (pred's shape), uint8/int32/int64 labels ([N, *S] or [N, 1,
    /// *S]), or bool (read as 0/1 labels); or .png: an 8- or 16-bit grayscale (also 1/2/4-bit, or
    /// palette-indexed) mask or label image.
    ///
    /// Each pixel's stored value is its label, as is (a 0/255 mask is not a 0/1 mask: store 0/1).
    /// A PNG of H x W pixels is one image of labels [1, H, W]: it lines up with a pred of shape
    /// [1, C, H, W] (C = 1: binary, values 0/1; C >= 2: multiclass, labels in [0, C) or the loss's
    /// ignore_index), or [1, H, W] with mode=binary. Colour (RGB/RGBA) and gray+alpha PNGs are
    /// rejected.
    #[arg(long, value_name = "T", value_hint = ValueHint::FilePath, help_heading = "One pair",
          required_unless_present = "pred_dir", conflicts_with_all = FOLDER_FLAGS)]
    pub target: Option<String>,
    /// .npy float32/float64: per-pixel weight (the target's shape or [N, *S]); for distance_bce it
    /// is the distance map d
    #[arg(long, value_name = "W", value_hint = ValueHint::FilePath, help_heading = "One pair",
          conflicts_with_all = FOLDER_FLAGS)]
    pub weight: Option<String>,
    /// Writes d loss / d pred to G as a float32 .npy of pred's shape
    #[arg(long, value_name = "G", value_hint = ValueHint::FilePath, help_heading = "One pair",
          conflicts_with_all = FOLDER_FLAGS)]
    pub grad_out: Option<String>,
    /// Folder of predictions: every D1/<stem>.npy
    #[arg(long, value_name = "D1", value_hint = ValueHint::DirPath, help_heading = "Folders",
          requires = "target_dir", conflicts_with_all = PAIR_FLAGS)]
    pub pred_dir: Option<String>,
    /// Folder of targets: D2/<stem>.npy or D2/<stem>.png
    #[arg(long, value_name = "D2", value_hint = ValueHint::DirPath, help_heading = "Folders",
          requires = "pred_dir", conflicts_with_all = PAIR_FLAGS)]
    pub target_dir: Option<String>,
    /// Folder of weights: D3/<stem>.npy
    #[arg(long, value_name = "D3", value_hint = ValueHint::DirPath, help_heading = "Folders",
          requires = "pred_dir", conflicts_with_all = PAIR_FLAGS)]
    pub weight_dir: Option<String>,
    /// Also writes file,loss,shape,mode,error rows to OUT
    #[arg(long, value_name = "OUT", value_hint = ValueHint::FilePath, help_heading = "Folders",
          requires = "pred_dir", conflicts_with_all = PAIR_FLAGS)]
    pub csv: Option<String>,
    /// Prints one JSON object. One pair: spec, loss, shape, target_shape, target_dtype, mode,
    /// threads, time_ms, pred, target (weight, grad_out when given). Folders: spec, files [{file,
    /// loss, shape, mode} or {file, error}], mean, count, failed, threads
    #[arg(long)]
    pub json: bool,
    /// `--threads`.
    #[command(flatten)]
    pub threads: Threads,
}

/// `segloss bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A loss spec, or `edt` or `unet_weights`
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// pred's shape [N, C, *S] with 1 to 3 spatial axes, e.g. 8,1,256,256 (for edt and
    /// unet_weights: the mask's [H, W] or [D, H, W])
    #[arg(long, value_name = "A,B,..", value_parser = dims, required = true, allow_negative_numbers = true)]
    pub shape: Dims,
    /// Timed runs after one warm-up run (at most 1000000)
    #[arg(long, value_name = "K", value_parser = iters, default_value = "10", allow_negative_numbers = true)]
    pub iters: usize,
    /// Prints one JSON object: spec, shape, threads, iters, median_ms, min_ms, melem_per_s, loss
    #[arg(long)]
    pub json: bool,
    /// `--threads`.
    #[command(flatten)]
    pub threads: Threads,
}

/// `segloss demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Output folder (created if missing)
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, default_value = "demo-out")]
    pub out: String,
    /// `--threads`.
    #[command(flatten)]
    pub threads: Threads,
}

/// `segloss edt`.
#[derive(Debug, Clone, Args)]
pub struct EdtArgs {
    /// .npy (2D [H, W] image or 3D [D, H, W] volume; float32/float64, uint8, int32, int64 or bool;
    /// nonzero = foreground) or .png (grayscale/palette, 2D)
    #[arg(value_name = "MASK", value_hint = ValueHint::FilePath)]
    pub mask: String,
    /// .npy (float32, MASK's shape) or .png (a heat map with a colour bar; 2D only; non-finite
    /// values in magenta)
    #[arg(short = 'o', long, value_name = "OUT", value_hint = ValueHint::FilePath, required = true)]
    pub output: String,
    /// Distance between pixel centres per axis, e.g. 1,0.5 (default 1 on every axis)
    #[arg(long, value_name = "a,b[,c]", value_parser = spacing, allow_negative_numbers = true)]
    pub spacing: Option<Spacing>,
    /// Squared distances
    #[arg(long)]
    pub squared: bool,
    /// `--threads`.
    #[command(flatten)]
    pub threads: Threads,
}

/// How `weight-map` reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputArg {
    /// A bool array or values in {0, 1} is a mask, anything else instance labels
    Auto,
    /// A binary mask: its connected components are the objects
    Mask,
    /// Instance labels: 0 background, every other value one object
    Instances,
}

/// `segloss weight-map`.
#[derive(Debug, Clone, Args)]
pub struct WeightMapArgs {
    /// .npy (2D [H, W] or 3D [D, H, W]) or .png: instance labels (0 background, every other value
    /// one object) or a binary mask (its connected components are the objects)
    #[arg(value_name = "LABELS", value_hint = ValueHint::FilePath)]
    pub labels: String,
    /// .npy (float32, LABELS' shape) or .png (heat map with a colour bar; 2D only)
    #[arg(short = 'o', long, value_name = "OUT", value_hint = ValueHint::FilePath, required = true)]
    pub output: String,
    /// Amplitude of the border term (>= 0)
    #[arg(long, value_name = "W0", value_parser = w0, default_value_t = UnetWeightConfig::default().w0,
          allow_negative_numbers = true)]
    pub w0: f32,
    /// Width of the border term in pixels (> 0)
    #[arg(long, value_name = "SIGMA", value_parser = sigma, default_value_t = UnetWeightConfig::default().sigma,
          allow_negative_numbers = true)]
    pub sigma: f32,
    /// Of the components of a mask: 4 (default) or 8 in 2D, 6 (default) or 26 in 3D
    #[arg(long, value_name = "N", value_parser = connectivity, allow_negative_numbers = true)]
    pub connectivity: Option<u32>,
    /// `balanced` (w_c = n / (2 n_c)) or a,b (background a, objects b)
    #[arg(long, value_name = "balanced|a,b", value_parser = class_weights, default_value = "balanced")]
    pub class_weights: ClassWeights,
    /// How LABELS is read
    #[arg(long, value_enum, value_name = "KIND", default_value_t = InputArg::Auto)]
    pub input: InputArg,
    /// `--threads`.
    #[command(flatten)]
    pub threads: Threads,
}

/// `--mode` of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One sigmoid per element
    Binary,
    /// Softmax over the channels
    Multiclass,
    /// One sigmoid per channel
    Multilabel,
}

impl From<ModeArg> for segloss::Mode {
    fn from(m: ModeArg) -> segloss::Mode {
        match m {
            ModeArg::Binary => segloss::Mode::Binary,
            ModeArg::Multiclass => segloss::Mode::Multiclass,
            ModeArg::Multilabel => segloss::Mode::Multilabel,
        }
    }
}

/// `segloss export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// A loss spec string (see `segloss list`)
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// The .onnx file to write
    #[arg(short = 'o', long, value_name = "FILE", value_hint = ValueHint::FilePath, required = true)]
    pub output: String,
    /// The rank of pred with N and C: 3 to 5 (1 to 3 spatial axes; 2 to 4 with --no-channel);
    /// default 4, [N, C, H, W] (with --attach: OUTPUT's rank)
    #[arg(long, value_name = "R", value_parser = positive, allow_negative_numbers = true)]
    pub rank: Option<usize>,
    /// Adds the input `weight` (the target's shape): a per-pixel weight for bce, wce, balanced_ce,
    /// focal and ce; the distance map d of distance_bce (which needs it)
    #[arg(long)]
    pub with_weight: bool,
    /// `weight` is [N, *S], one value per pixel broadcast over the channels (binary/multilabel
    /// pred with a channel axis); needs --with-weight
    #[arg(long)]
    pub pixel_weight: bool,
    /// The mode when the spec gives none (default: multiclass for ce and lovasz_softmax or
    /// --classes >= 2, else binary)
    #[arg(long, value_enum, value_name = "M")]
    pub mode: Option<ModeArg>,
    /// The number of channels C, declared in the shapes
    #[arg(long, value_name = "C", value_parser = positive, allow_negative_numbers = true)]
    pub classes: Option<usize>,
    /// pred is [N, *S] without the channel axis (binary only)
    #[arg(long)]
    pub no_channel: bool,
    /// The ONNX opset, 13 to 21 (default 17; with --attach, MODEL's)
    #[arg(long, value_name = "N", value_parser = positive, allow_negative_numbers = true)]
    pub opset: Option<usize>,
    /// Prefix of every internal node and value name: ASCII letters, digits and `_` (default
    /// segloss_)
    #[arg(long, value_name = "P", value_parser = prefix)]
    pub prefix: Option<String>,
    /// The .onnx model to attach the loss to (needs --to)
    #[arg(long, value_name = "MODEL", value_hint = ValueHint::FilePath, help_heading = "Attach to a model")]
    pub attach: Option<String>,
    /// The output of MODEL that feeds the loss (needs --attach)
    #[arg(long, value_name = "OUTPUT", help_heading = "Attach to a model")]
    pub to: Option<String>,
}

/// `segloss completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

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

/// Parses `argv` (without the program name). `Ok(None)`: help, version or usage was printed
/// (through [`crate::out`](mod@crate::out), so a closed pipe ends quietly and a full disk is an error).
pub fn parse(argv: &[String]) -> Result<Option<Cli>, CliError> {
    let cmd = command();
    let verb = argv.first().and_then(|v| cmd.find_subcommand(v)).map(|c| c.get_name().to_string());
    let parsed = cmd.try_get_matches_from(std::iter::once("segloss".to_string()).chain(argv.iter().cloned()));
    let result = parsed.and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    match result {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            crate::out::print(&e.render().to_string())?;
            Ok(None)
        }
        Err(e) => Err(clap_error(&e, verb.as_deref())),
    }
}

/// The strings of one context item of a clap error.
fn context(e: &clap::Error, kind: ContextKind) -> Vec<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        Some(ContextValue::StyledStrs(v)) => v.iter().map(|s| s.to_string()).collect(),
        Some(ContextValue::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// A flag or positional argument as clap shows it (`--threads <N>`, `<SPEC>`) as messages name
/// it: `--threads`, `SPEC`.
fn arg_name(shown: &str) -> String {
    let first = shown.split([' ', '=']).next().unwrap_or(shown);
    let first = first.trim_start_matches('<').trim_end_matches("...").trim_end_matches('>');
    clip(first)
}

/// `a`, `a or b`, `a, b or c`.
fn either(items: &[String]) -> String {
    joined(items, "or")
}

/// `a`, `a and b`, `a, b and c` (`conj` = `and`).
fn joined(items: &[String], conj: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conj} {last}", init.join(", ")),
    }
}

/// One clap error as one line: the flag or verb at fault first, the help to read at the end.
/// `verb` is the verb being parsed (`None`: the top level).
pub fn clap_error(e: &clap::Error, verb: Option<&str>) -> CliError {
    let (cmd, see) = match verb {
        Some(v) => (format!("`segloss {v}`"), format!("see `segloss {v} --help`")),
        None => ("`segloss`".to_string(), "see `segloss --help`".to_string()),
    };
    let arg = context(e, ContextKind::InvalidArg);
    let first = arg.first().map(|a| arg_name(a)).unwrap_or_default();
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => {
            let hint = match context(e, ContextKind::SuggestedArg).last() {
                Some(s) => format!("did you mean {}? ", arg_name(s)),
                None => String::new(),
            };
            let shown = arg.first().map(|a| clip(a)).unwrap_or_default();
            if shown.starts_with('-') && shown != "-" {
                format!("unknown flag {} for {cmd} ({hint}{see})", arg_name(&shown))
            } else {
                format!("unexpected argument `{shown}` for {cmd} ({hint}{see})")
            }
        }
        ErrorKind::InvalidSubcommand => {
            let name = context(e, ContextKind::InvalidSubcommand).first().map(|s| clip(s)).unwrap_or_default();
            // clap lists the suggestions from the least to the most alike
            let hint = match context(e, ContextKind::SuggestedSubcommand).last() {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            format!("unknown verb `{name}` ({hint}one of {}; see segloss --help)", verbs().join(", "))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            format!("no verb given (one of {}; see segloss --help)", verbs().join(", "))
        }
        ErrorKind::InvalidValue => {
            // clap gives an empty value for a flag without one
            let valid = context(e, ContextKind::ValidValue);
            let hint = match context(e, ContextKind::SuggestedValue).last() {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            match context(e, ContextKind::InvalidValue).into_iter().find(|v| !v.is_empty()) {
                None if valid.is_empty() => format!("flag {first} needs a value"),
                None => format!("flag {first} needs a value: {}", either(&valid)),
                Some(v) => format!("{first}: expected {}, got `{}`{hint}", either(&valid), clip(&v)),
            }
        }
        ErrorKind::ValueValidation => {
            let value = context(e, ContextKind::InvalidValue).first().map(|v| clip(v)).unwrap_or_default();
            match std::error::Error::source(e) {
                Some(why) => format!("{first}: {why}"),
                None => format!("{first}: invalid value `{value}`"),
            }
        }
        ErrorKind::ArgumentConflict => {
            let prior: Vec<String> = context(e, ContextKind::PriorArg).iter().map(|a| arg_name(a)).collect();
            if prior.is_empty() || prior.contains(&first) {
                format!("flag {first} is given twice")
            } else {
                format!("{first} cannot be combined with {} ({see})", either(&prior))
            }
        }
        ErrorKind::MissingRequiredArgument => {
            let names: Vec<String> = arg.iter().map(|a| arg_name(a)).collect();
            format!("{cmd} needs {} ({see})", joined(&names, "and"))
        }
        ErrorKind::InvalidUtf8 => format!("an argument of {cmd} is not valid UTF-8"),
        _ => {
            // Any other kind: clap's own first line, without its `error: ` prefix.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
            format!("{} ({see})", crate::out::clip_words(&line))
        }
    };
    CliError::new(msg)
}

// ---------------------------------------------------------------- value parsers

/// A comma-separated list of positive integers (`--shape`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims(pub Vec<usize>);

/// A comma-separated list of positive finite numbers (`--spacing`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spacing(pub Vec<f64>);

/// Whether `v` (trimmed) is a non-empty string of ASCII digits.
fn is_digits(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// A positive integer.
pub fn positive(v: &str) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ if is_digits(v) && !v.trim().trim_start_matches('0').is_empty() => Err(format!("`{}` is too large", clip(v))),
        _ => Err(format!("expected a positive integer, got `{}`", clip(v))),
    }
}

/// A positive integer of at most `max` (`what`: the unit, for the message).
pub fn count(v: &str, max: usize, what: &str) -> Result<usize, String> {
    if is_digits(v) && v.trim().parse::<usize>().map_or(true, |n| n > max) {
        return Err(format!("`{}` is more than the {max} {what} allowed", clip(v)));
    }
    positive(v)
}

/// `--threads`: 1 to [`MAX_THREADS`].
pub fn threads(v: &str) -> Result<usize, String> {
    count(v, MAX_THREADS, "threads")
}

/// `--iters`: 1 to [`crate::bench::MAX_ITERS`].
pub fn iters(v: &str) -> Result<usize, String> {
    count(v, crate::bench::MAX_ITERS, "runs")
}

/// A finite number.
pub fn number(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a finite number, got `{}`", clip(v))),
    }
}

/// A finite number used as a float32: an error, quoting the text as typed, when it is beyond
/// float32's range (`1e39` would be `inf`) or so small that it rounds to 0.
pub fn number_f32(v: &str) -> Result<f32, String> {
    let x = number(v)?;
    let y = x as f32;
    if y.is_infinite() {
        return Err(format!("`{}` is beyond the range of 32-bit floats (at most {:e} in magnitude)", clip(v), f32::MAX));
    }
    if y == 0.0 && x != 0.0 {
        return Err(format!("`{}` is too small for a 32-bit float (it rounds to 0)", clip(v)));
    }
    Ok(y)
}

/// `--w0`: a float32 >= 0.
pub fn w0(v: &str) -> Result<f32, String> {
    match number_f32(v)? {
        x if x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number >= 0, got `{}`", clip(v))),
    }
}

/// `--sigma`: a float32 > 0.
pub fn sigma(v: &str) -> Result<f32, String> {
    match number_f32(v)? {
        x if x > 0.0 => Ok(x),
        _ => Err(format!("expected a number > 0, got `{}`", clip(v))),
    }
}

/// `--connectivity`: 4 or 8 (2D), 6 or 26 (3D).
pub fn connectivity(v: &str) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(c @ (4 | 8 | 6 | 26)) => Ok(c),
        _ => Err(format!("expected 4 or 8 (2D), 6 or 26 (3D), got `{}`", clip(v))),
    }
}

/// `--shape`: positive integers separated by commas.
pub fn dims(v: &str) -> Result<Dims, String> {
    let parts: Result<Vec<usize>, _> = v.split(',').map(|p| p.trim().parse::<usize>()).collect();
    match parts {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x > 0) => Ok(Dims(d)),
        _ => Err(format!("expected positive integers separated by commas (e.g. 8,1,256,256), got `{}`", clip(v))),
    }
}

/// `--spacing`: positive finite numbers separated by commas.
pub fn spacing(v: &str) -> Result<Spacing, String> {
    let parts: Result<Vec<f64>, _> = v.split(',').map(|p| p.trim().parse::<f64>()).collect();
    match parts {
        Ok(d) if !d.is_empty() && d.iter().all(|&x| x.is_finite() && x > 0.0) => Ok(Spacing(d)),
        _ => Err(format!("expected positive numbers separated by commas (e.g. 1,0.5), got `{}`", clip(v))),
    }
}

/// `--class-weights`: `balanced` or two numbers >= 0.
pub fn class_weights(v: &str) -> Result<ClassWeights, String> {
    if v == "balanced" {
        return Ok(ClassWeights::Balanced);
    }
    let parts: Vec<Option<f32>> = v.split(',').map(|x| x.trim().parse::<f32>().ok()).collect();
    match parts.as_slice() {
        [Some(a), Some(b)] if a.is_finite() && b.is_finite() && *a >= 0.0 && *b >= 0.0 => Ok(ClassWeights::Fixed(*a, *b)),
        _ => Err(format!("expected `balanced` or two numbers >= 0 such as 1,5 (background, objects), got `{}`", clip(v))),
    }
}

/// `--prefix`: ASCII letters, digits and `_`.
pub fn prefix(v: &str) -> Result<String, String> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("expected ASCII letters, digits and `_`, got `{}`", clip(v)));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn parse_ok(v: &[&str]) -> Cli {
        parse(&s(v)).unwrap().expect("parsed")
    }

    fn parse_err(v: &[&str]) -> String {
        parse(&s(v)).unwrap_err().0
    }

    #[test]
    fn the_derived_command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn flags_and_positionals() {
        let Verb::Eval(a) = parse_ok(&["eval", "bce", "--pred=a.npy", "--json", "--target", "t.png", "--threads", "3"]).verb else {
            panic!("eval")
        };
        assert_eq!((a.spec.as_str(), a.pred.as_deref(), a.target.as_deref()), ("bce", Some("a.npy"), Some("t.png")));
        assert!(a.json);
        assert_eq!(a.threads.threads, Some(3));
        let Verb::Edt(a) = parse_ok(&["edt", "m.npy", "-o", "d.png", "--spacing", "1,0.5", "--squared"]).verb else { panic!("edt") };
        assert_eq!((a.mask.as_str(), a.output.as_str(), a.spacing), ("m.npy", "d.png", Some(Spacing(vec![1.0, 0.5]))));
        // after `--`, a dash starts a positional
        let Verb::Bench(a) = parse_ok(&["bench", "--shape", "1,1,2,2", "--", "-bce"]).verb else { panic!("bench") };
        assert_eq!((a.target.as_str(), a.shape, a.iters), ("-bce", Dims(vec![1, 1, 2, 2]), 10));
        let Verb::WeightMap(a) = parse_ok(&["weight-map", "l.npy", "-o", "w.npy"]).verb else { panic!("weight-map") };
        let d = UnetWeightConfig::default();
        assert_eq!(
            (a.w0, a.sigma, a.class_weights, a.input, a.connectivity),
            (d.w0, d.sigma, ClassWeights::Balanced, InputArg::Auto, None)
        );
    }

    #[test]
    fn clap_errors_are_one_line_naming_the_flag() {
        assert_eq!(parse_err(&["eval", "bce", "--nope"]), "unknown flag --nope for `segloss eval` (see `segloss eval --help`)");
        assert_eq!(parse_err(&["list", "--jsn"]), "unknown flag --jsn for `segloss list` (did you mean --json? see `segloss list --help`)");
        assert_eq!(parse_err(&["list", "extra"]), "unexpected argument `extra` for `segloss list` (see `segloss list --help`)");
        assert_eq!(parse_err(&["eval", "bce", "--pred"]), "flag --pred needs a value");
        assert_eq!(parse_err(&["list", "--json", "--json"]), "flag --json is given twice");
        assert_eq!(parse_err(&["eval", "bce", "--pred", "a", "--pred", "b", "--target", "t"]), "flag --pred is given twice");
        assert_eq!(parse_err(&["bench", "bce", "--shape", "1,1,2,2", "--iters", "0"]), "--iters: expected a positive integer, got `0`");
        assert_eq!(parse_err(&["demo", "--threads", "-1"]), "--threads: expected a positive integer, got `-1`");
        assert_eq!(
            parse_err(&["export", "bce", "-o", "x.onnx", "--mode", "fuzzy"]),
            "--mode: expected binary, multiclass or multilabel, got `fuzzy`"
        );
        assert_eq!(parse_err(&["export", "bce"]), "`segloss export` needs --output (see `segloss export --help`)");
        assert_eq!(parse_err(&["export"]), "`segloss export` needs --output and SPEC (see `segloss export --help`)");
        assert_eq!(parse_err(&["eval", "bce", "--pred", "p"]), "`segloss eval` needs --target (see `segloss eval --help`)");
        let e = parse_err(&["eval", "bce", "--pred", "p", "--target", "t", "--csv", "o.csv"]);
        assert!(e.starts_with("--csv cannot be combined with --pred") || e.starts_with("--pred cannot be combined with --csv"), "{e}");
        assert_eq!(
            parse_err(&["evl"]),
            format!("unknown verb `evl` (did you mean `eval`? one of {}; see segloss --help)", verbs().join(", "))
        );
        assert!(parse_err(&[]).starts_with("no verb given (one of list, eval, bench, demo, edt, weight-map, export, completions"));
        assert!(parse_err(&["--frobnicate"]).starts_with("unknown flag --frobnicate for `segloss`"));
        assert_eq!(
            parse_err(&["completions", "tcsh"]),
            "SHELL: expected bash, elvish, fish, powershell or zsh, got `tcsh` (did you mean `zsh`?)"
        );
    }

    #[test]
    fn bounded_counts_and_float32_numbers() {
        assert_eq!(count("7", 10, "runs"), Ok(7));
        for big in ["11", "18446744073709551616", "99999999999999999999999"] {
            assert_eq!(count(big, 10, "runs").unwrap_err(), format!("`{big}` is more than the 10 runs allowed"));
        }
        assert!(count("0", 10, "runs").unwrap_err().contains("positive integer"));
        assert!(positive("99999999999999999999999").unwrap_err().contains("too large"));
        assert_eq!(number_f32("1e38"), Ok(1e38));
        assert!(number_f32("1e39").unwrap_err().starts_with("`1e39` is beyond"));
        assert!(number_f32("1e-50").unwrap_err().contains("rounds to 0"));
        assert_eq!(number_f32("0"), Ok(0.0));
        assert_eq!(w0("0"), Ok(0.0));
        assert!(w0("-1").is_err() && sigma("0").is_err());
        assert_eq!(class_weights("1, 5"), Ok(ClassWeights::Fixed(1.0, 5.0)));
        assert!(class_weights("1").is_err() && class_weights("-1,1").is_err());
        assert_eq!(connectivity("26"), Ok(26));
        assert!(connectivity("5").is_err());
        assert!(dims("1,0,4").is_err() && spacing("1,x").is_err() && prefix("a b").is_err());
    }

    /// The bounds the help states are the ones the parsers apply.
    #[test]
    fn help_states_the_bounds() {
        let mut cmd = command();
        let bench = cmd.find_subcommand_mut("bench").unwrap().render_long_help().to_string();
        assert!(bench.contains(&format!("at most {}", crate::bench::MAX_ITERS)), "{bench}");
        assert!(bench.contains(&format!("at most {MAX_THREADS}")), "{bench}");
        assert!(bench.contains("[default: 10]"), "{bench}");
        assert!(iters(&(crate::bench::MAX_ITERS + 1).to_string()).is_err() && threads(&(MAX_THREADS + 1).to_string()).is_err());
    }
}
