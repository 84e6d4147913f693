//! The input of `-R`: one ipvsadm command per line, words split on blanks, the
//! word `ipvsadm` skipped wherever it stands (ipvsadm's config_stream). rvs also
//! skips comments: from a word starting with `#` to the end of the line (ipvsadm
//! 1.31 passes such words on as arguments and stops with a usage error).

/// The command lines of `input`, each with `program` as its first word; lines
/// without a word are left out.
pub fn command_lines(input: &str, program: &str) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    for line in input.split('\n') {
        let mut argv = vec![program.to_string()];
        for word in line.split([' ', '\t', '\r']).filter(|w| !w.is_empty()) {
            if word.starts_with('#') {
                break;
            }
            if word != "ipvsadm" {
                argv.push(word.to_string());
            }
        }
        if argv.len() > 1 {
            lines.push(argv);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_comments_and_program_name() {
        let input = "# header\nipvsadm -A -t 1.2.3.4:80\n\n  \t\n-a\t-t 1.2.3.4:80 -r 5.6.7.8 # trailing\r\nipvsadm\n-C";
        let lines = command_lines(input, "rvsadm");
        assert_eq!(
            lines,
            vec![
                vec!["rvsadm", "-A", "-t", "1.2.3.4:80"],
                vec!["rvsadm", "-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8"],
                vec!["rvsadm", "-C"],
            ]
        );
    }
}
