// The chat-template subset against jinja2 3.1.6 with Hugging Face's settings
// (trim_blocks, lstrip_blocks): every expected string below is what jinja2
// rendered for the same template and messages.
#include <gtest/gtest.h>

#include "api/jinja.h"
#include "selattn/error.h"

namespace selattn::test {
namespace {

JinjaValue message(const std::string& role, const std::string& content) {
  JinjaValue m;
  m.kind = JinjaValue::Kind::kMap;
  m.map["role"] = JinjaValue::string(role);
  m.map["content"] = JinjaValue::string(content);
  return m;
}

std::map<std::string, JinjaValue> vars() {
  JinjaValue messages;
  messages.kind = JinjaValue::Kind::kList;
  messages.list = {message("system", "Be brief."), message("user", " Hi there "), message("assistant", "Hello."),
                   message("user", "Bye")};
  return {{"messages", messages},
          {"add_generation_prompt", JinjaValue::boolean(true)},
          {"bos_token", JinjaValue::string("<s>")},
          {"eos_token", JinjaValue::string("</s>")}};
}

TEST(Jinja, RendersLikeJinja2WithHuggingFaceSettings) {
  struct Case {
    const char* name;
    const char* source;
    const char* expected;
  };
  const Case cases[] = {
      {"chatml",
       "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
       "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi there "
       "<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
      {"zephyr",
       "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
       "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token "
       "}}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% "
       "endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
       "<|system|>\nBe brief.</s>\n<|user|>\n Hi there "
       "</s>\n<|assistant|>\nHello.</s>\n<|user|>\nBye</s>\n<|assistant|>\n"},
      {"llama2",
       "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}{% else %}{% set "
       "system_message = false %}{% endif %}{{ bos_token }}{% for message in messages %}{% if message['role'] == "
       "'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' "
       "' + message['content'] | trim + ' ' + eos_token }}{% endif %}{% endfor %}",
       "<s>[INST] Hi there [/INST] Hello. </s>[INST] Bye [/INST]"},
      {"plain",
       "{%- for m in messages -%}\n  {%- if m.role == 'system' -%}\n{{ m.content }}\n\n  {%- else -%}\n{{ m.role | "
       "upper }}: {{ m.content }}\n  {%- endif %}\n{% endfor -%}\n{%- if add_generation_prompt %}ASSISTANT:{% endif "
       "-%}",
       "Be brief.USER:  Hi there ASSISTANT: Hello.USER: ByeASSISTANT:"},
      {"loopvars",
       "{# a comment #}\n{% for m in messages %}{{ loop.index }}/{{ loop.length }}{% if not loop.last %}, {% endif "
       "%}{% endfor %}\n{% if 'user' in ['user', 'x'] and messages|length > 1 %}many{% endif %}{{ undefined_thing is "
       "defined }}",
       "1/4, 2/4, 3/4, 4/4manyFalse"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(jinja_render(c.source, vars()), c.expected) << c.name;
  }
}

TEST(Jinja, UnsupportedOrBrokenTemplatesAreCleanErrors) {
  const std::pair<const char*, const char*> bad[] = {
      {"{{ messages", "never closed"},
      {"{% for m in messages %}x", "has no {% endfor %}"},
      {"{% if true %}x", "has no {% endif %}"},
      {"{% macro f() %}{% endmacro %}", "is not supported"},
      {"{{ x | tojson }}", "the filter 'tojson' is not supported"},
      {"{{ raise_exception('Only user and assistant roles') }}", "Only user and assistant roles"},
      {"{{ messages }}", "cannot be written as text"},
      {"{{ 'a' + 1 }}", "'+' joins two strings"},
  };
  for (const auto& [source, message] : bad) {
    try {
      jinja_render(source, vars());
      ADD_FAILURE() << source << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << source << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace selattn::test
