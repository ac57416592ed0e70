use super::*;
use segloss::distance::{ClassWeights, UnetWeightConfig};

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
    assert_eq!((a.mask.as_str(), a.output.to_str(), a.spacing), ("m.npy", Some("d.png"), Some(Spacing(vec![1.0, 0.5]))));
    // after `--`, a dash starts a positional
    let Verb::Bench(a) = parse_ok(&["bench", "--shape", "1,1,2,2", "--", "-bce"]).verb else { panic!("bench") };
    assert_eq!((a.target.as_str(), a.shape, a.iters), ("-bce", Dims(vec![1, 1, 2, 2]), None));
    let Verb::WeightMap(a) = parse_ok(&["weight-map", "l.npy", "-o", "w.npy"]).verb else { panic!("weight-map") };
    let d = UnetWeightConfig::default();
    assert_eq!((a.w0, a.sigma, a.class_weights, a.input, a.connectivity), (d.w0, d.sigma, ClassWeights::Balanced, InputArg::Auto, None));
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
    assert_eq!(parse_err(&["evl"]), format!("unknown verb `evl` (did you mean `eval`? one of {}; see segloss --help)", verbs().join(", ")));
    assert!(parse_err(&[]).starts_with("no verb given (one of list, eval, bench, demo, edt, weight-map, boundary-map, export, completions"));
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
    // without --iters the runs are time-based: the help states the schedule's constants
    use crate::bench::{FEW_RUNS, MAX_TIME_S, MIN_RUNS, MIN_TIME_S, WARM_UP_S};
    let flat = bench.split_whitespace().collect::<Vec<_>>().join(" ");
    let schedule = format!(
        "warm-up runs for {WARM_UP_S} s, then timed runs until at least {MIN_TIME_S} s and {MIN_RUNS} runs have passed (or {MAX_TIME_S} s with at least {FEW_RUNS} runs)"
    );
    assert!(flat.contains(&schedule), "the help does not state `{schedule}`:\n{bench}");
    assert!(iters(&(crate::bench::MAX_ITERS + 1).to_string()).is_err() && threads(&(MAX_THREADS + 1).to_string()).is_err());
}

/// The map verbs refuse an output they cannot write before reading or computing anything.
#[test]
fn map_outputs_are_checked_when_parsing() {
    for verb in ["edt", "weight-map"] {
        assert_eq!(
            parse_err(&[verb, "in.npy", "-o", "out.npz"]),
            "--output: `out.npz`: .npz is for inputs only: write a .npy or .png file"
        );
        assert_eq!(parse_err(&[verb, "in.npy", "-o", "out.txt"]), "--output: expected a .npy or .png file name, got `out.txt`");
    }
    assert!(parse_err(&["boundary-map", "--target", "t.npy", "-o", "b.NPZ"]).contains(".npz is for inputs only"));
    let Verb::BoundaryMap(a) = parse_ok(&["boundary-map", "--target", "t.png", "--classes", "3", "-o", "B.PNG"]).verb else {
        panic!("boundary-map")
    };
    assert_eq!((a.spec.as_str(), a.target.as_str(), a.classes, a.output.to_str()), ("boundary", "t.png", Some(3), Some("B.PNG")));
}
