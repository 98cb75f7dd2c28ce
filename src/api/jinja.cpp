#include "api/jinja.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "core/check.h"

namespace selattn {

JinjaValue JinjaValue::none() {
  JinjaValue v;
  v.kind = Kind::kNone;
  return v;
}
JinjaValue JinjaValue::boolean(bool x) {
  JinjaValue v;
  v.kind = Kind::kBool;
  v.b = x;
  return v;
}
JinjaValue JinjaValue::integer(int64_t x) {
  JinjaValue v;
  v.kind = Kind::kInt;
  v.i = x;
  return v;
}
JinjaValue JinjaValue::string(std::string x) {
  JinjaValue v;
  v.kind = Kind::kString;
  v.s = std::move(x);
  return v;
}

bool JinjaValue::truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b;
    case Kind::kInt:
      return i != 0;
    case Kind::kString:
      return !s.empty();
    case Kind::kList:
      return !list.empty();
    case Kind::kMap:
      return !map.empty();
  }
  return false;
}

namespace {

using Kind = JinjaValue::Kind;

// ---- lexing: text and tags, with HF's trim_blocks / lstrip_blocks ---------

struct Segment {
  enum class Type { kText, kExpr, kStmt } type;
  std::string body;  // text, or the tag's inside
  std::size_t offset;
};

std::vector<Segment> split(const std::string& src) {
  std::vector<Segment> out;
  std::size_t i = 0;
  bool trim_next = false;  // '-%}' or trim_blocks asked to drop leading whitespace/newline
  bool strip_all_next = false;
  while (i < src.size()) {
    const std::size_t open = src.find('{', i);
    std::size_t tag = std::string::npos;
    for (std::size_t p = open; p != std::string::npos && p + 1 < src.size(); p = src.find('{', p + 1)) {
      if (src[p + 1] == '{' || src[p + 1] == '%' || src[p + 1] == '#') {
        tag = p;
        break;
      }
    }
    std::string text = src.substr(i, (tag == std::string::npos ? src.size() : tag) - i);
    if (strip_all_next) {
      text.erase(
          0, text.find_first_not_of(" \t\r\n") == std::string::npos ? text.size() : text.find_first_not_of(" \t\r\n"));
    } else if (trim_next && !text.empty() && text[0] == '\n') {
      text.erase(0, 1);
    }
    trim_next = strip_all_next = false;
    if (tag == std::string::npos) {
      if (!text.empty()) out.push_back({Segment::Type::kText, text, i});
      break;
    }
    const char kind = src[tag + 1];
    const char* close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const std::size_t end = src.find(close, tag + 2);
    check(end != std::string::npos, "chat template: a tag opened at offset ", tag, " is never closed");
    std::string inner = src.substr(tag + 2, end - tag - 2);
    const bool left_minus = !inner.empty() && inner.front() == '-';
    const bool right_minus = !inner.empty() && inner.back() == '-';
    if (left_minus) inner.erase(0, 1);
    if (right_minus) inner.pop_back();
    if (left_minus) {
      const std::size_t keep = text.find_last_not_of(" \t\r\n");
      text.erase(keep == std::string::npos ? 0 : keep + 1);
    } else if (kind != '{') {
      // lstrip_blocks: spaces and tabs between a line's start and a block tag go.
      std::size_t start = tag;
      while (start > i && (src[start - 1] == ' ' || src[start - 1] == '\t')) --start;
      if (start == 0 || src[start - 1] == '\n') text.erase(text.size() - std::min(text.size(), tag - start));
    }
    if (!text.empty()) out.push_back({Segment::Type::kText, text, i});
    if (kind == '{') out.push_back({Segment::Type::kExpr, inner, tag});
    if (kind == '%') out.push_back({Segment::Type::kStmt, inner, tag});
    i = end + 2;
    strip_all_next = right_minus;
    trim_next = kind != '{';  // trim_blocks: the newline after a block tag goes
  }
  return out;
}

// ---- expressions -------------------------------------------------------------

struct Token {
  enum class Type { kName, kString, kInt, kOp, kEnd } type;
  std::string text;
};

std::vector<Token> tokenize(const std::string& s, std::size_t where) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Type::kName, s.substr(i, j - i)});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({Token::Type::kInt, s.substr(i, j - i)});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      std::size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
          v += s[j];
        }
      }
      check(j < s.size(), "chat template: a string at offset ", where, " is never closed");
      out.push_back({Token::Type::kString, v});
      i = j + 1;
    } else {
      static const char* two[] = {"==", "!=", "<=", ">="};
      std::string op(1, c);
      for (const char* t : two) {
        if (s.compare(i, 2, t) == 0) op = t;
      }
      check(std::string("=!<>+~()[].,|:-").find(c) != std::string::npos, "chat template: unexpected '", c,
            "' in the tag at offset ", where);
      out.push_back({Token::Type::kOp, op});
      i += op.size();
    }
  }
  out.push_back({Token::Type::kEnd, ""});
  return out;
}

using Scope = std::vector<std::map<std::string, JinjaValue>>;

std::string to_text(const JinjaValue& v, std::size_t where) {
  switch (v.kind) {
    case Kind::kString:
      return v.s;
    case Kind::kInt:
      return std::to_string(v.i);
    case Kind::kBool:
      return v.b ? "True" : "False";
    case Kind::kNone:
      return "None";
    case Kind::kUndefined:
      return "";
    default:
      fail("chat template: a list or mapping cannot be written as text (offset ", where, ")");
  }
}

class Expr {
 public:
  Expr(std::vector<Token> toks, std::size_t where, Scope& scope) : t_(std::move(toks)), where_(where), scope_(scope) {}

  JinjaValue parse_and_eval() {
    JinjaValue v = or_expr();
    check(peek().type == Token::Type::kEnd, "chat template: unexpected '", peek().text, "' in the tag at offset ",
          where_);
    return v;
  }
  // For "for NAME in EXPR": the rest after the name.
  const Token& peek() const { return t_[p_]; }
  Token next() { return t_[p_++]; }
  bool accept(const std::string& op) {
    if ((peek().type == Token::Type::kOp || peek().type == Token::Type::kName) && peek().text == op) {
      ++p_;
      return true;
    }
    return false;
  }
  JinjaValue or_expr() {
    JinjaValue v = and_expr();
    while (accept("or")) {
      JinjaValue r = and_expr();
      v = JinjaValue::boolean(v.truthy() || r.truthy());
    }
    return v;
  }

 private:
  JinjaValue and_expr() {
    JinjaValue v = not_expr();
    while (accept("and")) {
      JinjaValue r = not_expr();
      v = JinjaValue::boolean(v.truthy() && r.truthy());
    }
    return v;
  }
  JinjaValue not_expr() {
    if (accept("not")) return JinjaValue::boolean(!not_expr().truthy());
    return comparison();
  }
  static bool equal(const JinjaValue& a, const JinjaValue& b) {
    if (a.kind == Kind::kString && b.kind == Kind::kString) return a.s == b.s;
    if ((a.kind == Kind::kInt || a.kind == Kind::kBool) && (b.kind == Kind::kInt || b.kind == Kind::kBool)) {
      return (a.kind == Kind::kInt ? a.i : a.b) == (b.kind == Kind::kInt ? b.i : b.b);
    }
    return (a.kind == Kind::kNone || a.kind == Kind::kUndefined) &&
           (b.kind == Kind::kNone || b.kind == Kind::kUndefined);
  }
  JinjaValue comparison() {
    JinjaValue v = additive();
    for (;;) {
      if (accept("==")) {
        v = JinjaValue::boolean(equal(v, additive()));
      } else if (accept("!=")) {
        v = JinjaValue::boolean(!equal(v, additive()));
      } else if (peek().text == "<" || peek().text == ">" || peek().text == "<=" || peek().text == ">=") {
        const std::string op = next().text;
        const JinjaValue r = additive();
        check(v.kind == Kind::kInt && r.kind == Kind::kInt, "chat template: '", op, "' compares numbers only (offset ",
              where_, ")");
        v = JinjaValue::boolean(op == "<" ? v.i < r.i : op == ">" ? v.i > r.i : op == "<=" ? v.i <= r.i : v.i >= r.i);
      } else if (accept("in")) {
        v = JinjaValue::boolean(contains(additive(), v));
      } else if (peek().text == "not" && p_ + 1 < t_.size() && t_[p_ + 1].text == "in") {
        p_ += 2;
        v = JinjaValue::boolean(!contains(additive(), v));
      } else if (accept("is")) {
        const bool negate = accept("not");
        const std::string test = next().text;
        bool r = false;
        if (test == "defined") {
          r = v.kind != Kind::kUndefined;
        } else if (test == "none") {
          r = v.kind == Kind::kNone;
        } else if (test == "string") {
          r = v.kind == Kind::kString;
        } else {
          fail("chat template: the test 'is ", test, "' is not supported (offset ", where_, ")");
        }
        v = JinjaValue::boolean(negate ? !r : r);
      } else {
        return v;
      }
    }
  }
  static bool contains(const JinjaValue& haystack, const JinjaValue& needle) {
    if (haystack.kind == Kind::kString)
      return needle.kind == Kind::kString && haystack.s.find(needle.s) != std::string::npos;
    if (haystack.kind == Kind::kList) {
      return std::any_of(haystack.list.begin(), haystack.list.end(),
                         [&](const JinjaValue& x) { return equal(x, needle); });
    }
    if (haystack.kind == Kind::kMap) return needle.kind == Kind::kString && haystack.map.count(needle.s) > 0;
    return false;
  }
  std::string str(const JinjaValue& v) const { return to_text(v, where_); }
  JinjaValue additive() {
    JinjaValue v = postfix();
    for (;;) {
      if (accept("+")) {
        const JinjaValue r = postfix();
        if (v.kind == Kind::kInt && r.kind == Kind::kInt) {
          v = JinjaValue::integer(v.i + r.i);
        } else {
          check(v.kind == Kind::kString && r.kind == Kind::kString,
                "chat template: '+' joins two strings or adds two numbers (offset ", where_, ")");
          v = JinjaValue::string(v.s + r.s);
        }
      } else if (accept("-")) {
        const JinjaValue r = postfix();
        check(v.kind == Kind::kInt && r.kind == Kind::kInt, "chat template: '-' needs numbers (offset ", where_, ")");
        v = JinjaValue::integer(v.i - r.i);
      } else if (accept("~")) {
        v = JinjaValue::string(str(v) + str(postfix()));
      } else {
        return v;
      }
    }
  }
  JinjaValue postfix() {
    JinjaValue v = primary();
    for (;;) {
      if (accept(".")) {
        v = member(v, JinjaValue::string(next().text));
      } else if (accept("[")) {
        const JinjaValue key = or_expr();
        check(accept("]"), "chat template: expected ']' (offset ", where_, ")");
        v = member(v, key);
      } else if (accept("|")) {
        const std::string f = next().text;
        if (f == "trim") {
          const std::string s = str(v);
          const std::size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
          v = JinjaValue::string(a == std::string::npos ? "" : s.substr(a, b - a + 1));
        } else if (f == "length") {
          v = JinjaValue::integer(static_cast<int64_t>(v.kind == Kind::kList  ? v.list.size()
                                                       : v.kind == Kind::kMap ? v.map.size()
                                                                              : v.s.size()));
        } else if (f == "upper" || f == "lower") {
          std::string s = str(v);
          for (char& ch : s)
            ch = static_cast<char>(f == "upper" ? std::toupper(static_cast<unsigned char>(ch))
                                                : std::tolower(static_cast<unsigned char>(ch)));
          v = JinjaValue::string(s);
        } else {
          fail("chat template: the filter '", f, "' is not supported (offset ", where_, ")");
        }
      } else {
        return v;
      }
    }
  }
  JinjaValue member(const JinjaValue& v, const JinjaValue& key) const {
    if (v.kind == Kind::kMap && key.kind == Kind::kString) {
      const auto it = v.map.find(key.s);
      return it != v.map.end() ? it->second : JinjaValue{};
    }
    if (v.kind == Kind::kList && key.kind == Kind::kInt) {
      const int64_t n = static_cast<int64_t>(v.list.size());
      const int64_t k = key.i < 0 ? key.i + n : key.i;
      return k >= 0 && k < n ? v.list[k] : JinjaValue{};
    }
    return JinjaValue{};
  }
  JinjaValue primary() {
    const Token t = next();
    switch (t.type) {
      case Token::Type::kString:
        return JinjaValue::string(t.text);
      case Token::Type::kInt:
        return JinjaValue::integer(std::stoll(t.text));
      case Token::Type::kName: {
        if (t.text == "true" || t.text == "True") return JinjaValue::boolean(true);
        if (t.text == "false" || t.text == "False") return JinjaValue::boolean(false);
        if (t.text == "none" || t.text == "None") return JinjaValue::none();
        if (t.text == "raise_exception") {
          check(accept("("), "chat template: raise_exception needs a message (offset ", where_, ")");
          const JinjaValue msg = or_expr();
          accept(")");
          fail("chat template: ", str(msg));
        }
        for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
          const auto f = it->find(t.text);
          if (f != it->end()) return f->second;
        }
        return JinjaValue{};
      }
      case Token::Type::kOp:
        if (t.text == "(") {
          JinjaValue v = or_expr();
          check(accept(")"), "chat template: expected ')' (offset ", where_, ")");
          return v;
        }
        if (t.text == "[") {
          JinjaValue v;
          v.kind = Kind::kList;
          while (!accept("]")) {
            v.list.push_back(or_expr());
            accept(",");
            check(peek().type != Token::Type::kEnd, "chat template: expected ']' (offset ", where_, ")");
          }
          return v;
        }
        break;
      case Token::Type::kEnd:
        break;
    }
    fail("chat template: unexpected '", t.text, "' in the tag at offset ", where_);
  }

  std::vector<Token> t_;
  std::size_t p_ = 0;
  std::size_t where_;
  Scope& scope_;
};

// ---- statements -----------------------------------------------------------

class Renderer {
 public:
  Renderer(std::vector<Segment> segs, const std::map<std::string, JinjaValue>& vars) : segs_(std::move(segs)) {
    scope_.push_back(vars);
  }

  std::string run() {
    std::string out;
    std::size_t i = 0;
    block(i, out, true, {});
    check(i == segs_.size(), "chat template: an unexpected {% ", segs_[i].body, " %} at offset ", segs_[i].offset);
    return out;
  }

 private:
  static std::string keyword(const std::string& body) {
    const std::size_t a = body.find_first_not_of(" \t\n");
    if (a == std::string::npos) return "";
    const std::size_t b = body.find_first_of(" \t\n", a);
    return body.substr(a, b == std::string::npos ? std::string::npos : b - a);
  }
  static std::string rest(const std::string& body) {
    const std::string k = keyword(body);
    return body.substr(body.find(k) + k.size());
  }
  JinjaValue eval(const std::string& text, std::size_t where) {
    return Expr(tokenize(text, where), where, scope_).parse_and_eval();
  }

  // Renders (or skips, when !emit) segments from i until one of the closing
  // keywords; returns the keyword found ("" at the end).
  std::string block(std::size_t& i, std::string& out, bool emit, const std::vector<std::string>& until) {
    while (i < segs_.size()) {
      const Segment& s = segs_[i];
      if (s.type == Segment::Type::kText) {
        if (emit) out += s.body;
        ++i;
        continue;
      }
      if (s.type == Segment::Type::kExpr) {
        if (emit) {
          const JinjaValue v = eval(s.body, s.offset);
          out += to_text(v, s.offset);
        }
        ++i;
        continue;
      }
      const std::string k = keyword(s.body);
      if (std::find(until.begin(), until.end(), k) != until.end()) return k;
      ++i;
      if (k == "if") {
        bool taken = false;
        bool cond = emit && eval(rest(s.body), s.offset).truthy();
        for (;;) {
          const std::string end = block(i, out, emit && cond && !taken, {"elif", "else", "endif"});
          check(!end.empty(), "chat template: {% if %} at offset ", s.offset, " has no {% endif %}");
          taken = taken || cond;
          const Segment& e = segs_[i++];
          if (end == "endif") break;
          cond = end == "else" ? true : (emit && !taken && eval(rest(e.body), e.offset).truthy());
        }
      } else if (k == "for") {
        const std::string r = rest(s.body);
        const std::size_t in = r.find(" in ");
        check(in != std::string::npos, "chat template: expected 'for NAME in LIST' at offset ", s.offset);
        std::string name = r.substr(0, in);
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        const std::size_t body_start = i;
        JinjaValue list;
        if (emit) list = eval(r.substr(in + 4), s.offset);
        check(!emit || list.kind == Kind::kList || list.kind == Kind::kUndefined, "chat template: {% for %} at offset ",
              s.offset, " needs a list");
        const std::size_t n = emit ? list.list.size() : 0;
        for (std::size_t k2 = 0; k2 < std::max<std::size_t>(n, 1); ++k2) {
          i = body_start;
          std::map<std::string, JinjaValue> frame;
          const bool run = k2 < n;
          if (run) {
            frame[name] = list.list[k2];
            JinjaValue loop;
            loop.kind = Kind::kMap;
            loop.map["index0"] = JinjaValue::integer(static_cast<int64_t>(k2));
            loop.map["index"] = JinjaValue::integer(static_cast<int64_t>(k2 + 1));
            loop.map["first"] = JinjaValue::boolean(k2 == 0);
            loop.map["last"] = JinjaValue::boolean(k2 + 1 == n);
            loop.map["length"] = JinjaValue::integer(static_cast<int64_t>(n));
            frame["loop"] = loop;
          }
          scope_.push_back(frame);
          const std::string end = block(i, out, run, {"endfor"});
          scope_.pop_back();
          check(end == "endfor", "chat template: {% for %} at offset ", s.offset, " has no {% endfor %}");
        }
        ++i;  // endfor
      } else if (k == "set") {
        const std::string r = rest(s.body);
        const std::size_t eq = r.find('=');
        check(eq != std::string::npos, "chat template: expected 'set NAME = EXPR' at offset ", s.offset);
        std::string name = r.substr(0, eq);
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        if (emit) scope_.back()[name] = eval(r.substr(eq + 1), s.offset);
      } else {
        fail("chat template: {% ", k, " %} at offset ", s.offset, " is not supported");
      }
    }
    return "";
  }

  std::vector<Segment> segs_;
  Scope scope_;
};

}  // namespace

std::string jinja_render(const std::string& source, const std::map<std::string, JinjaValue>& vars) {
  return Renderer(split(source), vars).run();
}

}  // namespace selattn
