"""Every word of the studio in English and 中文.

Static labels go to the browser through `gr.I18n` (the browser picks the language and switches it
without a round trip); messages built on the server (status, toasts, tables) are formatted here
with `say(lang, key, ...)`. Each entry holds both languages, so neither can fall behind.
"""

from __future__ import annotations

import re

import gradio as gr

from studio.engine import prompts

LANGS = ("en", "zh")

# key -> (English, 中文)
STRINGS: dict[str, tuple[str, str]] = {
    # header
    "app.title": ("Step-Audio-EditX Studio", "Step-Audio-EditX 工作室"),
    "app.subtitle": (
        "Clone a voice, edit its emotion, style and sounds, then listen and compare every take.",
        "克隆音色，编辑情感、风格与副语言声音，再逐条试听、对比每个版本。",
    ),
    "header.language": ("Language", "界面语言"),
    "page.clone": ("Clone", "克隆"),
    "page.edit": ("Edit", "编辑"),
    "page.speed": ("Speed", "语速"),
    "page.denoise": ("Denoise", "降噪"),
    "page.vad": ("Silence (VAD)", "静音 (VAD)"),
    "page.history": ("History & Compare", "历史与对比"),
    "page.settings": ("Settings", "设置"),
    # model status (server side)
    "status.ready": (
        "**Model ready** · {variant} · {device} · {dtype} · {memory}",
        "**模型已就绪** · {variant} · {device} · {dtype} · {memory}",
    ),
    "status.loading": ("**Loading the model…** ({variant} on {device})", "**正在加载模型…**（{variant}，{device}）"),
    "status.idle": (
        "**Model not loaded** · weights on disk: {variants} · it loads on first use, or now in Settings.",
        "**模型未加载** · 本地权重：{variants} · 首次使用时自动加载，也可在“设置”中立即加载。",
    ),
    "status.missing": (
        "**No model weights** in `{dir}`: model actions are off, the fast tools work. "
        "Get the weights (about 9 GB) with `python -m studio download --model-dir {dir}`, then reload this page.",
        "`{dir}` 中**没有模型权重**：模型功能已停用，快速工具仍可使用。"
        "运行 `python -m studio download --model-dir {dir}` 下载权重（约 9 GB），然后刷新本页。",
    ),
    "status.failed": (" · last load failed: {error}", " · 上次加载失败：{error}"),
    "status.queue": (" · {count} waiting", " · {count} 个请求排队中"),
    # shared input panel
    "input.source": ("Input", "输入"),
    "input.take": ("Current take", "当前版本"),
    "input.upload": ("Upload or record", "上传或录音"),
    "input.audio": ("Audio (upload or record)", "音频（上传或录音）"),
    "input.text": ("Transcript of the input (exact words)", "输入音频的文字（逐字）"),
    "input.text_ph": ("Type what is said, or press Transcribe", "输入音频中说的话，或点击“自动转写”"),
    "common.transcribe": ("Transcribe", "自动转写"),
    "common.result": ("Result (now the current take)", "结果（已成为当前版本）"),
    "common.details": ("Take details", "版本详情"),
    "common.seed": ("Seed (empty = random)", "随机种子（留空为随机）"),
    "common.passes": ("Passes", "编辑遍数"),
    "common.passes_info": (
        "The main strength control: each pass edits the previous result again (1 subtle … 4 strong).",
        "主要的强度控制：每一遍都在上一遍结果上再次编辑（1 轻微 … 4 强烈）。",
    ),
    "common.intensity": ("Intensity (experimental)", "强度（实验性）"),
    "common.intensity_info": (
        "Secondary: adds an adverb such as “slightly” or “dramatically” to the instruction.",
        "次要控制：在指令中加入“稍微”“非常”等程度词。",
    ),
    "common.model_side": ("Model edit (Step-Audio-EditX)", "模型编辑（Step-Audio-EditX）"),
    "common.tool_side": ("Fast tool (no model needed)", "快速工具（无需模型）"),
    "common.model_result": ("Model result", "模型结果"),
    "common.tool_result": ("Fast tool result", "快速工具结果"),
    # clone
    "clone.intro": (
        "Give 3–30 s of a voice and exactly what it says; the model speaks your text in that voice.",
        "提供 3–30 秒的参考音频及其逐字文本，模型会用这个音色说出你的文字。",
    ),
    "clone.voice": ("Saved voice or preset", "已保存的音色或预设"),
    "clone.voice_info": (
        "Fills the prompt below; or upload or record your own.",
        "选择后会填入下方参考音频；也可自行上传或录音。",
    ),
    "clone.voice_none": ("(none)", "（无）"),
    "clone.prompt_audio": ("Voice prompt (upload or record)", "参考音频（上传或录音）"),
    "clone.prompt_text": ("What the prompt says (exact transcript)", "参考音频的文字（逐字）"),
    "clone.language": ("Language or dialect", "语言或方言"),
    "clone.text": ("Text to speak", "要说的文字"),
    "clone.text_ph": ("Type the new sentence for this voice", "输入要用这个音色说的新句子"),
    "clone.run": ("Clone voice", "克隆音色"),
    # edit
    "edit.intro": (
        "Edit the current take or a recording: change its emotion or style, or add sounds such as laughter.",
        "编辑当前版本或一段录音：改变情感或说话风格，或加入笑声等副语言声音。",
    ),
    "edit.submode": ("What to change", "编辑内容"),
    "edit.emotion": ("Emotion", "情感"),
    "edit.style": ("Style", "风格"),
    "edit.paralinguistic": ("Paralinguistic sounds", "副语言声音"),
    "edit.new_text": ("Text with sound tags", "带声音标签的文字"),
    "edit.new_text_info": (
        "Click a tag to insert it where the cursor is.",
        "点击标签即可插入到光标所在位置。",
    ),
    "edit.chips": ("Sound tags", "声音标签"),
    "edit.run": ("Apply edit", "开始编辑"),
    # speed / denoise / vad
    "speed.intro": (
        "Make speech faster or slower: the model re-speaks it, the fast tool stretches time and keeps pitch.",
        "让语速变快或变慢：模型会重新说一遍，快速工具则直接拉伸时长并保持音高。",
    ),
    "speed.choice": ("Speed", "语速"),
    "speed.rate": ("Tempo (1.0 = unchanged, 1.25 = 25% faster)", "速度倍率（1.0 不变，1.25 快 25%）"),
    "speed.run_model": ("Change speed with the model", "用模型改变语速"),
    "speed.run_tool": ("Stretch with the fast tool", "用快速工具拉伸"),
    "denoise.intro": (
        "Remove background noise: the model re-synthesises clean speech, the fast tool filters the noise away.",
        "去除背景噪声：模型会重新合成干净的语音，快速工具则直接滤除噪声。",
    ),
    "denoise.strength": ("Noise reduction limit (dB)", "降噪上限（dB）"),
    "denoise.run_model": ("Denoise with the model", "用模型降噪"),
    "denoise.run_tool": ("Filter with the fast tool", "用快速工具滤噪"),
    "vad.intro": (
        "Cut silences out of speech: the model re-speaks without them, the fast tool trims the pauses.",
        "去除语音中的静音：模型会不带停顿地重新说一遍，快速工具则直接剪掉停顿。",
    ),
    "vad.keep": ("Longest pause to keep (s)", "保留的最长停顿（秒）"),
    "vad.run_model": ("Remove silence with the model", "用模型去除静音"),
    "vad.run_tool": ("Trim with the fast tool", "用快速工具剪除"),
    # history & compare
    "history.takes": ("Takes", "版本列表"),
    "history.tree": ("Edit tree", "编辑树"),
    "history.gallery": ("Every take: waveform and spectrogram", "每个版本的波形与频谱"),
    "history.pick": ("Take", "版本"),
    "history.player": ("Selected take", "所选版本"),
    "history.figure": ("Waveform and spectrogram", "波形与频谱"),
    "history.info": ("Operation, parameters, transcript and stage timings", "操作、参数、转写文本与各阶段耗时"),
    "history.rating": ("Rating", "评分"),
    "history.note": ("Reviewer note", "评审备注"),
    "history.save_rating": ("Save rating", "保存评分"),
    "history.branch": ("Continue from this take", "从此版本继续"),
    "history.delete": ("Delete take", "删除版本"),
    "history.transcribe": ("Transcribe take", "转写此版本"),
    "history.export": ("Export ZIP (audio, edit tree, ratings)", "导出 ZIP（音频、编辑树、评分）"),
    "history.export_file": ("Export", "导出文件"),
    "history.refresh": ("Refresh", "刷新"),
    "compare.title": ("A/B compare", "A/B 对比"),
    "compare.a": ("Take A", "版本 A"),
    "compare.b": ("Take B", "版本 B"),
    "compare.run": ("Compare", "对比"),
    "compare.figure": ("Aligned waveforms and spectrograms", "对齐的波形与频谱"),
    "compare.measures": ("Objective measures", "客观指标"),
    # settings
    "settings.model": ("Model", "模型"),
    "settings.variant": ("Variant", "模型版本"),
    "variant.on_disk": ("on disk", "已下载"),
    "variant.missing": ("not on disk", "未下载"),
    "settings.dtype": ("Precision", "精度"),
    "settings.device": ("Device", "设备"),
    "settings.load": ("Load model", "加载模型"),
    "settings.unload": ("Unload model", "卸载模型"),
    "settings.memory": ("Model status and memory", "模型状态与内存"),
    "settings.defaults": ("Defaults for this workspace", "本工作区的默认值"),
    "settings.max_input": ("Maximum input length (s)", "最长输入时长（秒）"),
    "settings.keep_speaker": ("Keep the original speaker on every pass", "每一遍都保持原说话人音色"),
    "settings.max_new_tokens": (
        "Max new tokens (advanced; empty = the model's window)",
        "最大生成 token 数（高级；留空为模型上限）",
    ),
    "settings.asr": ("Speech recognition model", "语音识别模型"),
    "settings.format": ("Export audio format", "导出音频格式"),
    "settings.save": ("Save defaults", "保存默认值"),
    "settings.workspace": ("Workspace", "工作区"),
    "settings.workspace_id": (
        "Workspace id (open the same takes in another browser)",
        "工作区 ID（可在其他浏览器打开同样的版本）",
    ),
    "settings.open_workspace": ("Open workspace", "打开工作区"),
    "voices.title": ("Saved voices", "已保存的音色"),
    "voices.pick": ("Voice", "音色"),
    "voices.name": ("Name", "名称"),
    "voices.from_take": ("From take", "来自版本"),
    "voices.upload": ("Or upload a recording", "或上传一段录音"),
    "voices.text": ("Its exact transcript (empty: the take's text)", "对应的逐字文本（留空则用版本的文字）"),
    "voices.create": ("Save as voice", "保存为音色"),
    "voices.rename": ("Rename", "重命名"),
    "voices.delete": ("Delete voice", "删除音色"),
    "voices.none": ("Voices are not available in this studio.", "本工作室未启用音色库。"),
    # server messages
    "msg.error": ("Error", "出错了"),
    "msg.unexpected": (
        "The studio hit an unexpected problem ({kind}). Your takes are saved; the server log has the details.",
        "工作室遇到意外问题（{kind}）。你的版本都已保存；详情见服务器日志。",
    ),
    "msg.no_take": (
        "There is no current take yet: clone a voice or upload audio first.",
        "还没有当前版本：请先克隆音色或上传音频。",
    ),
    "msg.no_audio": ("Upload or record audio first.", "请先上传或录制音频。"),
    "msg.no_prompt": (
        "Upload or record a voice prompt, or pick a saved voice.",
        "请上传或录制参考音频，或选择一个已保存的音色。",
    ),
    "msg.too_long": (
        "The audio is {seconds:.1f} s; this workspace allows at most {limit:g} s per model call "
        "(Settings → Maximum input length). Trim it or split it.",
        "音频长 {seconds:.1f} 秒；本工作区每次最多 {limit:g} 秒（设置 → 最长输入时长）。请剪短或分段。",
    ),
    "msg.too_big": (
        "The file is {size:.1f} MB; the limit is {limit:g} MB.",
        "文件大小 {size:.1f} MB，上限为 {limit:g} MB。",
    ),
    "msg.no_weights": (
        "The model weights are not installed, so model actions are off. Run `python -m studio download`.",
        "未安装模型权重，模型功能不可用。请运行 `python -m studio download`。",
    ),
    "msg.asr_off": ("Speech recognition is not available here: {reason}", "此处无法使用语音识别：{reason}"),
    "msg.need_text": ("Type the transcript of the input, or press Transcribe.", "请输入音频的文字，或点击“自动转写”。"),
    "msg.saved": ("Saved.", "已保存。"),
    "msg.rated": ("Rating saved for take {take}.", "已保存版本 {take} 的评分。"),
    "msg.branched": (
        "Continuing from take {take}: it is now the current take.",
        "从版本 {take} 继续：它现在是当前版本。",
    ),
    "msg.deleted": ("Take {take} deleted.", "已删除版本 {take}。"),
    "msg.loaded": ("Model loaded.", "模型已加载。"),
    "msg.unloaded": ("Model unloaded; memory released.", "模型已卸载，内存已释放。"),
    "msg.voice_saved": ("Voice “{name}” saved.", "音色“{name}”已保存。"),
    "msg.voice_deleted": ("Voice “{name}” deleted.", "音色“{name}”已删除。"),
    "msg.pick_take": ("Pick a take first.", "请先选择一个版本。"),
    "msg.pick_two": ("Pick two takes to compare.", "请选择两个版本进行对比。"),
    "msg.pick_voice": ("Pick a voice first.", "请先选择一个音色。"),
    "msg.workspace": ("Opened workspace {workspace}.", "已打开工作区 {workspace}。"),
    # history table and take details (server side)
    "col.take": ("Take", "版本"),
    "col.parent": ("From", "来源"),
    "col.operation": ("Operation", "操作"),
    "col.params": ("Parameters", "参数"),
    "col.duration": ("Length (s)", "时长（秒）"),
    "col.rating": ("Rating", "评分"),
    "col.text": ("Text / transcript", "文字 / 转写"),
    "col.timings": ("Stage timings (s)", "各阶段耗时（秒）"),
    "col.measure": ("Measure", "指标"),
    "col.better": ("Better", "更好的方向"),
    "better.higher": ("higher", "越高越好"),
    "better.lower": ("lower", "越低越好"),
    "take.current": ("current", "当前"),
    "take.summary": ("{take} · {operation} · {duration:.1f} s", "{take} · {operation} · {duration:.1f} 秒"),
    "measure.duration": ("Duration", "时长"),
    "measure.loudness": ("Integrated loudness", "整体响度"),
    "measure.peak": ("Sample peak", "采样峰值"),
    "measure.speech_ratio": ("Speech share of the take", "语音占比"),
    "measure.dnsmos_ovrl": ("DNSMOS overall quality", "DNSMOS 总体质量"),
    "measure.dnsmos_sig": ("DNSMOS speech signal", "DNSMOS 语音信号"),
    "measure.dnsmos_bak": ("DNSMOS background", "DNSMOS 背景噪声"),
    "measure.dnsmos_p808": ("DNSMOS P.808 overall", "DNSMOS P.808 总分"),
    "measure.f0_mean": ("Mean pitch (F0)", "平均音高 (F0)"),
    "measure.f0_range": ("Pitch range (F0 5-95 %)", "音高范围 (F0 5-95 %)"),
    "measure.speaker_similarity": ("Speaker similarity A↔B", "说话人相似度 A↔B"),
    "measure.wer": ("Word error rate against the intended text", "相对目标文本的词错率"),
    "measure.cer": ("Character error rate against the intended text", "相对目标文本的字错率"),
    "op.upload": ("Upload", "上传"),
    "op.prompt": ("Voice prompt", "参考音频"),
    "op.clone": ("Clone", "克隆"),
    "op.emotion": ("Emotion", "情感"),
    "op.style": ("Style", "风格"),
    "op.paralinguistic": ("Paralinguistic", "副语言"),
    "op.speed": ("Speed (model)", "语速（模型）"),
    "op.denoise": ("Denoise (model)", "降噪（模型）"),
    "op.vad": ("Silence removal (model)", "去静音（模型）"),
    "op.tool-speed": ("Speed (fast tool)", "语速（快速工具）"),
    "op.tool-denoise": ("Denoise (fast tool)", "降噪（快速工具）"),
    "op.tool-vad": ("Silence trim (fast tool)", "去静音（快速工具）"),
}

EMOTION_NAMES = {
    "happy": ("Happy", "开心"), "angry": ("Angry", "生气"), "sad": ("Sad", "悲伤"), "humour": ("Humorous", "幽默"),
    "confusion": ("Confused", "困惑"), "disgusted": ("Disgusted", "厌恶"), "empathy": ("Empathetic", "共情"),
    "embarrass": ("Embarrassed", "尴尬"), "fear": ("Afraid", "恐惧"), "surprised": ("Surprised", "惊讶"),
    "excited": ("Excited", "兴奋"), "depressed": ("Depressed", "沮丧"), "coldness": ("Cold", "冷漠"),
    "admiration": ("Admiring", "钦佩"), "remove": ("Remove emotion (neutral)", "去除情感（中性）"),
}  # fmt: skip
STYLE_NAMES = {
    "serious": ("Serious", "严肃"), "arrogant": ("Arrogant", "傲慢"), "child": ("Child", "孩童"),
    "older": ("Elderly", "老年"), "girl": ("Young girl", "少女"), "pure": ("Pure", "纯真"),
    "sister": ("Mature woman", "御姐"), "sweet": ("Sweet", "甜美"), "ethereal": ("Ethereal", "空灵"),
    "whisper": ("Whisper", "耳语"), "gentle": ("Gentle", "温柔"), "recite": ("Recitation", "朗诵"),
    "generous": ("Generous", "大方"), "act_coy": ("Coy", "撒娇"), "warm": ("Warm", "温暖"), "shy": ("Shy", "害羞"),
    "comfort": ("Comforting", "安慰"), "authority": ("Authoritative", "权威"), "chat": ("Chatty", "闲聊"),
    "radio": ("Radio host", "电台主播"), "soulful": ("Soulful", "深情"), "story": ("Storytelling", "讲故事"),
    "vivid": ("Vivid", "生动"), "program": ("Programme host", "节目主持"), "news": ("Newsreader", "新闻播报"),
    "advertising": ("Advertising", "广告"), "roar": ("Roar", "咆哮"), "murmur": ("Murmur", "呢喃"),
    "shout": ("Shout", "喊叫"), "deeply": ("Deep", "深沉"), "loudly": ("Loud", "大声"),
    "remove": ("Remove style (plain)", "去除风格（平实）"), "exaggerated": ("Exaggerated", "夸张"),
}  # fmt: skip
SPEED_NAMES = {
    "faster": ("Faster", "快一点"), "slower": ("Slower", "慢一点"),
    "more faster": ("Much faster", "更快"), "more slower": ("Much slower", "更慢"),
}  # fmt: skip
SOUND_NAMES = {
    "[Breathing]": ("breath", "呼吸"), "[Laughter]": ("laugh", "笑声"), "[Surprise-oh]": ("surprise “oh”", "惊讶“哦”"),
    "[Confirmation-en]": ("agree “mm-hm”", "确认“嗯”"), "[Uhm]": ("hesitate “uhm”", "犹豫“嗯…”"),
    "[Surprise-ah]": ("surprise “ah”", "惊讶“啊”"), "[Surprise-wa]": ("surprise “wow”", "惊讶“哇”"),
    "[Sigh]": ("sigh", "叹气"), "[Question-ei]": ("question “eh?”", "疑问“诶”"),
    "[Dissatisfaction-hnn]": ("displeased “hmph”", "不满“哼”"),
}  # fmt: skip
LANGUAGE_NAMES = {
    "": ("Mandarin or English (no tag)", "普通话或英语（无标签）"), "[Sichuanese]": ("Sichuanese", "四川话"),
    "[Cantonese]": ("Cantonese", "粤语"), "[Japanese]": ("Japanese", "日语"), "[Korean]": ("Korean", "韩语"),
}  # fmt: skip
VOCABULARIES = {
    "emotion": (prompts.EMOTIONS, EMOTION_NAMES),
    "style": (prompts.STYLES, STYLE_NAMES),
    "speed": (prompts.SPEEDS, SPEED_NAMES),
    "sound": (prompts.PARALINGUISTIC_TAGS, SOUND_NAMES),
    "language": (("", *prompts.LANGUAGE_PREFIXES), LANGUAGE_NAMES),
}


def _tag_strings() -> dict[str, tuple[str, str]]:
    """Readable names for every official tag: 'Happy · happy' / '开心 · happy' (the tag stays visible)."""
    out = {}
    for kind, (values, names) in VOCABULARIES.items():
        for value in values:
            en, zh = names[value]
            if kind == "sound":
                out[f"{kind}.{value}"] = (f"{value} {en}", f"{value} {zh}")
            elif kind == "language" or en.lower() == value:
                out[f"{kind}.{value}"] = (en, f"{zh} · {en}")
            else:
                out[f"{kind}.{value}"] = (f"{en} · {value}", f"{zh} · {value}")
    return out


STRINGS.update(_tag_strings())

I18N = gr.I18n(
    en={k: v[0] for k, v in STRINGS.items()},
    # The browser reports zh-CN, zh-TW, ...; zh-CN also switches Gradio's own words, zh covers the rest.
    **{code: {k: v[1] for k, v in STRINGS.items()} for code in ("zh-CN", "zh")},
)


def t(key: str) -> gr.i18n.I18nData:
    """A label the browser shows in its current language."""
    if key not in STRINGS:
        raise KeyError(f"no text for {key!r}")
    return I18N(key)


def say(lang: str | None, key: str, **values: object) -> str:
    """A message formatted on the server in the person's language."""
    en, zh = STRINGS[key]
    return (zh if lang == "zh" else en).format(**values)


def choices(kind: str) -> list[tuple[gr.i18n.I18nData, str]]:
    """Dropdown/radio choices for one official vocabulary: readable label, exact tag as the value."""
    values, _ = VOCABULARIES[kind]
    return [(t(f"{kind}.{v}"), v) for v in values]


# Engine progress messages, English, turned into Chinese phrase by phrase (longest first).
_PROGRESS_ZH = (
    (re.compile(r"pass (\d+)/(\d+)"), r"第 \1/\2 遍"),
    (re.compile(r" ?\((\d+) tokens\)"), r"（\1 个 token）"),
    (re.compile(r"encoding the prompt"), "编码参考音频"),
    (re.compile(r"decoding audio"), "解码音频"),
    (re.compile(r"loading audio tokenizer"), "加载音频分词器"),
    (re.compile(r"loading text tokenizer"), "加载文本分词器"),
    (re.compile(r"loading language model"), "加载语言模型"),
    (re.compile(r"loading decoder"), "加载解码器"),
    (re.compile(r"model ready"), "模型就绪"),
    (re.compile(r"encoding"), "编码"),
    (re.compile(r"generating"), "生成"),
    (re.compile(r"decoding"), "解码"),
    (re.compile(r"transcribing"), "语音识别"),
    (re.compile(r"measuring"), "计算指标"),
    (re.compile(r"saving"), "保存"),
)


def progress_text(lang: str | None, message: str) -> str:
    if lang != "zh":
        return message
    for pattern, replacement in _PROGRESS_ZH:
        message = pattern.sub(replacement, message)
    return message
