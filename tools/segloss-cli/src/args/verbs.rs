//! The flags of each verb: one struct per verb, whose doc comments are the --help texts.

// The flags' doc comments show placeholders such as `D1/<stem>.npy` literally: not HTML.
#![allow(rustdoc::invalid_html_tags)]

use super::values::*;
use clap::{Args, ValueEnum, ValueHint};
use segloss::distance::{ClassWeights, UnetWeightConfig};
use std::path::PathBuf;

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
    /// Exactly K timed runs after one warm-up run (at most 1000000); without it the runs are
    /// time-based: warm-up runs for 0.2 s, then timed runs until at least 1 s and 50 runs have
    /// passed (or 20 s with at least 10 runs)
    #[arg(long, value_name = "K", value_parser = iters, allow_negative_numbers = true)]
    pub iters: Option<usize>,
    /// Also times, in the same run, the limits of the loss (`segloss bench --help`): a stream
    /// over the same bytes (read pred and target, write a gradient; for edt and unet_weights,
    /// read the mask, write a map) and, for lovasz_hinge and lovasz_softmax, a radix sort of the
    /// same number of keys; prints each one's time and its fraction (limit time / loss time)
    #[arg(long)]
    pub roofline: bool,
    /// Prints one JSON object: spec, shape, threads, iters, min_ms, median_ms, p90_ms, spread,
    /// melem_per_s, loss, simd_level (the level the kernels ran at: baseline, avx2 or avx512, as
    /// SEGLOSS_SIMD names them) (with --roofline also stream_ms, stream_fraction and, for the
    /// sorting losses, sort_ms, sort_fraction)
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
    #[arg(short = 'o', long, value_name = "OUT", value_hint = ValueHint::FilePath, required = true, value_parser = map_output)]
    pub output: PathBuf,
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
    #[arg(short = 'o', long, value_name = "OUT", value_hint = ValueHint::FilePath, required = true, value_parser = map_output)]
    pub output: PathBuf,
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

/// `segloss boundary-map`.
#[derive(Debug, Clone, Args)]
pub struct BoundaryMapArgs {
    /// A loss spec with one `boundary` term, whose keys (spacing, include_background, classes)
    /// the map follows, e.g. `boundary`, `boundary:spacing=[1,0.5]`, `0.5*dice+boundary`
    #[arg(value_name = "SPEC", default_value = "boundary")]
    pub spec: String,
    /// The target, as `segloss eval` reads it: .npy (or .npz array) float masks of pred's shape
    /// [N, C, *S], or integer/bool labels [N, *S] (or [N, 1, *S]); or a .png label image (one
    /// image, [1, H, W])
    #[arg(long, value_name = "T", value_hint = ValueHint::FilePath, required = true)]
    pub target: String,
    /// The prediction's channel count C when the target holds labels (pred [N, C, *S]; 1 for a
    /// binary prediction whose labels are 0/1); a float target gives pred's shape itself
    #[arg(long, value_name = "C", value_parser = positive, allow_negative_numbers = true)]
    pub classes: Option<usize>,
    /// .npy (float32, pred's shape: the graph's `boundary_map` input) or .png (heat map with a
    /// colour bar; 2D, one channel)
    #[arg(short = 'o', long, value_name = "OUT", value_hint = ValueHint::FilePath, required = true, value_parser = map_output)]
    pub output: PathBuf,
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
