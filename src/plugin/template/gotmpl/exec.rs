//! Running a parsed template: values, fields, functions and printing, with
//! Go's results and Go's errors.

use super::{Cmd, Func, Groups, Node, Operand, Pipe};
use crate::plugin::pkg::go_strconv::parse_uint;

/// What a template sees as `.`: CoreDNS's `templateData`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Data {
    pub(crate) zone: String,
    pub(crate) name: String,
    pub(crate) regex: String,
    pub(crate) class: String,
    pub(crate) qtype: String,
    pub(crate) remote: String,
    pub(crate) matches: Vec<String>,
    pub(crate) groups: Groups,
    pub(crate) question: Question,
}

/// `.Question`: the matched question.
#[derive(Debug, Default, Clone)]
pub(crate) struct Question {
    pub(crate) name: String,
    pub(crate) qtype: u16,
    pub(crate) qclass: u16,
    /// How miekg prints it: `;name.\tIN\t A`.
    pub(crate) text: String,
}

#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Int(i64),
    Uint(u64),
    Bool(bool),
    List(Vec<String>),
    Map(Groups),
    Question,
    Data,
    /// A missing map key read as a field.
    Missing,
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Uint(_) => "uint64",
            Value::Bool(_) => "bool",
            Value::List(_) => "[]string",
            Value::Map(_) => "map[string]string",
            Value::Question => "*dns.Question",
            Value::Data => "*template.templateData",
            Value::Missing => "<invalid>",
        }
    }

    fn truth(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(n) => *n != 0,
            Value::Uint(n) => *n != 0,
            Value::Bool(b) => *b,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Question | Value::Data => true,
            Value::Missing => false,
        }
    }

    /// The value as `fmt.Sprint` prints it.
    fn print(&self, data: &Data) -> Result<String, String> {
        Ok(match self {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Uint(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::List(l) => format!("[{}]", l.join(" ")),
            Value::Map(m) => {
                let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", pairs.join(" "))
            }
            Value::Question => data.question.text.clone(),
            Value::Data => return Err("clusterdns does not print the whole template data".into()),
            Value::Missing => "<no value>".into(),
        })
    }

    /// The value as an integer, for comparisons and indexes.
    fn integer(&self) -> Option<i128> {
        match self {
            Value::Int(n) => Some(i128::from(*n)),
            Value::Uint(n) => Some(i128::from(*n)),
            _ => None,
        }
    }
}

pub(crate) fn run(nodes: &[Node], data: &Data, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(pipe) => out.push_str(&eval_pipe(pipe, data)?.print(data)?),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if eval_pipe(cond, data)?.truth() {
                    then
                } else {
                    otherwise
                };
                run(branch, data, out)?;
            }
        }
    }
    Ok(())
}

fn eval_pipe(pipe: &Pipe, data: &Data) -> Result<Value, String> {
    let mut last = None;
    for cmd in &pipe.0 {
        last = Some(eval_cmd(cmd, data, last)?);
    }
    last.ok_or_else(|| "empty pipeline".into())
}

fn eval_cmd(cmd: &Cmd, data: &Data, piped: Option<Value>) -> Result<Value, String> {
    let (first, rest) = cmd.0.split_first().ok_or("empty command")?;
    let mut args = rest
        .iter()
        .map(|op| eval_operand(op, data))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    match first {
        Operand::Func(f) => call(*f, args, data),
        Operand::Field(path) if path.len() == 1 && path[0] == "Meta" => meta(args),
        _ if !args.is_empty() => Err(format!(
            "can't give argument to non-function {}",
            describe(first)
        )),
        other => eval_operand(other, data),
    }
}

fn describe(op: &Operand) -> String {
    match op {
        Operand::Field(path) => format!(".{}", path.join(".")),
        Operand::Dot => ".".into(),
        other => format!("{other:?}"),
    }
}

/// `.Meta "name"`: without the metadata plugin every name is empty.
fn meta(args: Vec<Value>) -> Result<Value, String> {
    match args.as_slice() {
        [Value::Str(_)] => Ok(Value::Str(String::new())),
        [other] => Err(format!(
            "wrong type for value; expected string; got {}",
            other.kind()
        )),
        _ => Err(format!(
            "wrong number of args for Meta: want 1 got {}",
            args.len()
        )),
    }
}

fn eval_operand(op: &Operand, data: &Data) -> Result<Value, String> {
    Ok(match op {
        Operand::Dot => Value::Data,
        Operand::Field(path) => walk(path, data)?,
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Int(n) => Value::Int(*n),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Sub(pipe) => eval_pipe(pipe, data)?,
        Operand::Func(f) => call(*f, Vec::new(), data)?,
    })
}

/// `.A.B…` from the data.
fn walk(path: &[String], data: &Data) -> Result<Value, String> {
    let mut value = Value::Data;
    for name in path {
        value = field(value, name, data)?;
    }
    Ok(value)
}

fn field(value: Value, name: &str, data: &Data) -> Result<Value, String> {
    Ok(match (value, name) {
        (Value::Data, "Zone") => Value::Str(data.zone.clone()),
        (Value::Data, "Name") => Value::Str(data.name.clone()),
        (Value::Data, "Regex") => Value::Str(data.regex.clone()),
        (Value::Data, "Class") => Value::Str(data.class.clone()),
        (Value::Data, "Type") => Value::Str(data.qtype.clone()),
        (Value::Data, "Remote") => Value::Str(data.remote.clone()),
        (Value::Data, "Match") => Value::List(data.matches.clone()),
        (Value::Data, "Group") => Value::Map(data.groups.clone()),
        (Value::Data, "Question") => Value::Question,
        (Value::Data, "Meta") => return meta(Vec::new()),
        (Value::Question, "Name") => Value::Str(data.question.name.clone()),
        (Value::Question, "Qtype") => Value::Uint(u64::from(data.question.qtype)),
        (Value::Question, "Qclass") => Value::Uint(u64::from(data.question.qclass)),
        (Value::Map(map), key) => map
            .get(key)
            .map(|v| Value::Str(v.clone()))
            .unwrap_or(Value::Missing),
        (value, name) => {
            return Err(format!(
                "can't evaluate field {name} in type {}",
                value.kind()
            ));
        }
    })
}

fn call(f: Func, args: Vec<Value>, data: &Data) -> Result<Value, String> {
    let name = super::func_name(f);
    let at_least = |n: usize| {
        if args.len() < n {
            Err(format!(
                "wrong number of args for {name}: want at least {n} got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    let exactly = |n: usize| {
        if args.len() != n {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        } else {
            Ok(())
        }
    };
    match f {
        Func::Index => {
            at_least(1)?;
            let mut args = args.into_iter();
            let mut item = args.next().unwrap_or(Value::Missing);
            for key in args {
                item = index(item, &key).map_err(|e| format!("error calling index: {e}"))?;
            }
            Ok(item)
        }
        Func::Len => {
            exactly(1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                other => Err(format!("error calling len: len of type {}", other.kind())),
            }
        }
        Func::Print => Ok(Value::Str(sprint(&args, data)?)),
        Func::Println => {
            let parts = args
                .iter()
                .map(|a| a.print(data))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Str(format!("{}\n", parts.join(" "))))
        }
        Func::Printf => {
            at_least(1)?;
            let Value::Str(format) = &args[0] else {
                return Err(format!(
                    "wrong type for value; expected string; got {}",
                    args[0].kind()
                ));
            };
            let operands: Vec<Arg> = args[1..].iter().map(|a| printf_arg(a, data)).collect();
            Ok(Value::Str(super::printf::sprintf(format, &operands)))
        }
        Func::ParseInt => {
            exactly(3)?;
            match (&args[0], args[1].integer(), args[2].integer()) {
                (Value::Str(s), Some(base), Some(bits)) => parse_uint(s, base, bits)
                    .map(Value::Uint)
                    .map_err(|e| format!("error calling parseInt: {e}")),
                (Value::Str(_), _, _) => Err("wrong type for value; expected int".into()),
                (other, _, _) => Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.kind()
                )),
            }
        }
        Func::Not => {
            exactly(1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        Func::And | Func::Or => {
            at_least(1)?;
            let wanted = f == Func::Or;
            let last = args.len() - 1;
            let at = args
                .iter()
                .position(|a| a.truth() == wanted)
                .unwrap_or(last);
            Ok(args[at].clone())
        }
        Func::Eq => {
            at_least(2)?;
            let mut equal = false;
            for other in &args[1..] {
                equal |= compare(&args[0], other)? == std::cmp::Ordering::Equal;
            }
            Ok(Value::Bool(equal))
        }
        Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => {
            exactly(2)?;
            let order = compare(&args[0], &args[1])?;
            Ok(Value::Bool(match f {
                Func::Ne => order.is_ne(),
                Func::Lt => order.is_lt(),
                Func::Le => order.is_le(),
                Func::Gt => order.is_gt(),
                _ => order.is_ge(),
            }))
        }
    }
}

/// `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value], data: &Data) -> Result<String, String> {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&arg.print(data)?);
    }
    Ok(out)
}

fn index(item: Value, key: &Value) -> Result<Value, String> {
    match (item, key) {
        (Value::List(list), key) => {
            let n = key
                .integer()
                .ok_or_else(|| format!("cannot index slice/array with type {}", key.kind()))?;
            usize::try_from(n)
                .ok()
                .and_then(|i| list.get(i).cloned())
                .map(Value::Str)
                .ok_or_else(|| format!("index out of range: {n}"))
        }
        (Value::Str(s), key) => {
            let n = key
                .integer()
                .ok_or_else(|| format!("cannot index slice/array with type {}", key.kind()))?;
            usize::try_from(n)
                .ok()
                .and_then(|i| s.as_bytes().get(i).copied())
                .map(|b| Value::Uint(u64::from(b)))
                .ok_or_else(|| format!("index out of range: {n}"))
        }
        (Value::Map(map), Value::Str(k)) => Ok(Value::Str(map.get(k).cloned().unwrap_or_default())),
        (Value::Map(_), other) => Err(format!("value has type {}; should be string", other.kind())),
        (other, _) => Err(format!("can't index item of type {}", other.kind())),
    }
}

/// Go's `eq`/`lt` rules: strings with strings, integers with integers.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ => match (a.integer(), b.integer()) {
            (Some(x), Some(y)) => Ok(x.cmp(&y)),
            _ if matches!(a, Value::Missing) || matches!(b, Value::Missing) => {
                Err("invalid type for comparison".into())
            }
            _ => Err("incompatible types for comparison".into()),
        },
    }
}

/// What `printf` sees of one operand.
pub(super) enum Arg {
    Str(String),
    Int(i128),
    /// Another value: how it prints, and `type=value` for Go's error verbs.
    Other(String, String),
}

fn printf_arg(value: &Value, data: &Data) -> Arg {
    match value {
        Value::Str(s) => Arg::Str(s.clone()),
        Value::Int(_) | Value::Uint(_) => Arg::Int(value.integer().unwrap_or_default()),
        other => {
            let printed = other.print(data).unwrap_or_default();
            Arg::Other(printed.clone(), format!("{}={printed}", other.kind()))
        }
    }
}
