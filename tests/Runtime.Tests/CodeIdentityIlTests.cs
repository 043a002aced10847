using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.Loader;
using IwSft.Runtime.Execution;
using IwSft.Runtime.Tests.CodeFixtures;

namespace IwSft.Runtime.Tests;

/// <summary>
/// What in a method's body decides its code identity. Each case builds "twins": the same type and method
/// (<c>Twins.Subject::M</c>) emitted into two separate assemblies with bodies that differ in one respect only,
/// as two builds of one stage kind would. Identical bodies give identical identities, so any difference comes
/// from the one thing varied.
/// </summary>
public class CodeIdentityIlTests
{
    static int _serial;

    /// <summary>A fresh assembly (IwSft.Twin.N) holding static class Twins.Subject with static void M(int, int).</summary>
    static Type Subject(Action<ILGenerator> body, Type? parent = null)
    {
        var name = new AssemblyName($"IwSft.Twin{Interlocked.Increment(ref _serial)}");
        var ab = new PersistedAssemblyBuilder(name, typeof(object).Assembly);
        var tb = ab.DefineDynamicModule(name.Name!).DefineType("Twins.Subject",
            TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Class | (parent is null ? TypeAttributes.Sealed : 0), parent);
        var m = tb.DefineMethod("M", MethodAttributes.Public | MethodAttributes.Static, typeof(void), [typeof(int), typeof(int)]);
        body(m.GetILGenerator());
        if (parent is not null)   // a constructor that does not chain to its base's (possible in IL, not in C#)
            tb.DefineConstructor(MethodAttributes.Family, CallingConventions.Standard, Type.EmptyTypes).GetILGenerator().Emit(OpCodes.Ret);
        tb.CreateType();
        using var ms = new MemoryStream();
        ab.Save(ms);
        ms.Position = 0;
        return new AssemblyLoadContext(name.Name, isCollectible: true).LoadFromStream(ms).GetType("Twins.Subject", throwOnError: true)!;
    }

    static string Identity(Action<ILGenerator> body) => CodeIdentity.OfType(Subject(body));

    /// <summary>Same body twice: equal identities. The varied body: another identity.</summary>
    static void Decides(Action<ILGenerator> a, Action<ILGenerator> b)
    {
        Assert.Equal(Identity(a), Identity(a));
        Assert.Equal(Identity(b), Identity(b));
        Assert.NotEqual(Identity(a), Identity(b));
    }

    static Action<ILGenerator> Body(Action<ILGenerator> emit) => il => { emit(il); il.Emit(OpCodes.Ret); };

    [Fact]
    public void The_instruction_decides()
    {
        Decides(Body(il => { il.Emit(OpCodes.Ldc_I4_0); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Ceq); il.Emit(OpCodes.Pop); }),
                Body(il => { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Clt); il.Emit(OpCodes.Pop); }));
    }

    [Fact]
    public void Constants_decide()
    {
        Decides(Body(il => { il.Emit(OpCodes.Ldc_I4_S, (sbyte)5); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldc_I4_S, (sbyte)6); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldc_I4, 1000); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldc_I4, 2000); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldc_I8, 1L << 40); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldc_I8, (1L << 40) + 1); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldc_R8, 1.5); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldc_R8, 2.5); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldc_R4, 1.5f); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldc_R4, 2.5f); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldstr, "a"); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldstr, "b"); il.Emit(OpCodes.Pop); }));
    }

    [Fact]
    public void Which_argument_is_read_decides()
    {
        // ldarg with a two-byte index (0xFE prefix, uint16 operand).
        Decides(Body(il => { il.Emit(OpCodes.Ldarg, (short)0); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldarg, (short)1); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldarg_S, (byte)0); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldarg_S, (byte)1); il.Emit(OpCodes.Pop); }));
    }

    [Fact]
    public void Branch_and_switch_targets_decide()
    {
        static Action<ILGenerator> Switch(bool swapped) => il =>
        {
            Label first = il.DefineLabel(), second = il.DefineLabel();
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Switch, swapped ? new[] { second, first } : [first, second]);
            il.MarkLabel(first);
            il.Emit(OpCodes.Nop);
            il.MarkLabel(second);
            il.Emit(OpCodes.Ret);   // the switch's targets are the last bytes but two
        };
        Decides(Switch(false), Switch(true));

        static Action<ILGenerator> Branch(bool far) => il =>
        {
            Label near = il.DefineLabel(), end = il.DefineLabel();
            il.Emit(OpCodes.Br, far ? end : near);
            il.MarkLabel(near);
            il.Emit(OpCodes.Nop);
            il.MarkLabel(end);
            il.Emit(OpCodes.Ret);
        };
        Decides(Branch(false), Branch(true));
    }

    [Fact]
    public void The_method_called_and_the_field_read_decide()
    {
        var one = typeof(OnlyFromCtor).GetMethod(nameof(OnlyFromCtor.Value))!;
        var other = typeof(OnlyFromCctor).GetMethod(nameof(OnlyFromCctor.Value))!;
        Decides(Body(il => { il.Emit(OpCodes.Call, one); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Call, other); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldsfld, typeof(WithStaticInitializer).GetField(nameof(WithStaticInitializer.X))!); il.Emit(OpCodes.Pop); }),
                Body(il => { il.Emit(OpCodes.Ldsfld, typeof(StaticHolder<int>).GetField(nameof(StaticHolder<int>.Count))!); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldtoken, typeof(OnlyByTypeof)); il.Emit(OpCodes.Pop); }), Body(il => { il.Emit(OpCodes.Ldtoken, typeof(OnlyAsLocal)); il.Emit(OpCodes.Pop); }));
        // Outside the identity assemblies nothing is reached: the name in the body is all that tells the calls apart.
        var max = typeof(Math).GetMethod(nameof(Math.Max), [typeof(int), typeof(int)])!;
        var min = typeof(Math).GetMethod(nameof(Math.Min), [typeof(int), typeof(int)])!;
        Decides(Body(il => { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Call, max); il.Emit(OpCodes.Pop); }),
                Body(il => { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Call, min); il.Emit(OpCodes.Pop); }));
        Decides(Body(il => { il.Emit(OpCodes.Ldsfld, typeof(string).GetField(nameof(string.Empty))!); il.Emit(OpCodes.Pop); }),
                Body(il => { il.Emit(OpCodes.Ldsfld, typeof(Type).GetField(nameof(Type.EmptyTypes))!); il.Emit(OpCodes.Pop); }));
        Assert.Equal([$"Twins.Subject::Void M(Int32, Int32)"],
            CodeIdentity.Reach([Subject(Body(il => { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Call, max); il.Emit(OpCodes.Pop); }))]));
        // And what is called in them is reached, with what it reaches.
        var reached = CodeIdentity.Reach([Subject(Body(il => { il.Emit(OpCodes.Call, one); il.Emit(OpCodes.Pop); }))]);
        Assert.Contains($"{typeof(OnlyFromCtor)}::Int32 Value()", reached);
    }

    [Fact]
    public void An_indirect_call_is_read_past_its_signature()
    {
        static Action<ILGenerator> Calli(int constant) => Body(il =>
        {
            il.Emit(OpCodes.Ldnull);
            il.EmitCalli(OpCodes.Calli, CallingConventions.Standard, typeof(void), Type.EmptyTypes, null);
            il.Emit(OpCodes.Ldc_I4, constant);
            il.Emit(OpCodes.Pop);
        });
        Decides(Calli(1), Calli(2));
    }

    [Fact]
    public void Locals_decide_by_type_and_pinning_and_their_types_are_reached()
    {
        Decides(Body(il => il.DeclareLocal(typeof(int))), Body(il => il.DeclareLocal(typeof(long))));
        Decides(Body(il => il.DeclareLocal(typeof(object), pinned: false)), Body(il => il.DeclareLocal(typeof(object), pinned: true)));
        Decides(Body(_ => { }), Body(il => il.DeclareLocal(typeof(int))));
        var reached = CodeIdentity.Reach([Subject(Body(il => il.DeclareLocal(typeof(OnlyAsLocal))))]);
        Assert.Contains($"{typeof(OnlyAsLocal)}::Int32 M()", reached);
    }

    [Fact]
    public void Exception_clauses_decide_by_kind_extent_and_caught_type()
    {
        static Action<ILGenerator> Catch(Type caught) => Body(il =>
        {
            il.BeginExceptionBlock();
            il.Emit(OpCodes.Nop);
            il.BeginCatchBlock(caught);
            il.Emit(OpCodes.Pop);
            il.EndExceptionBlock();
        });
        Decides(Catch(typeof(ArgumentException)), Catch(typeof(InvalidOperationException)));

        // The same bytes (nop nop leave endfinally ret) with the first nop inside or outside the try block.
        static Action<ILGenerator> Finally(bool firstInside) => Body(il =>
        {
            if (!firstInside) il.Emit(OpCodes.Nop);
            il.BeginExceptionBlock();
            if (firstInside) il.Emit(OpCodes.Nop);
            il.Emit(OpCodes.Nop);
            il.BeginFinallyBlock();
            il.EndExceptionBlock();
        });
        Decides(Finally(true), Finally(false));
        Decides(Body(il => { il.Emit(OpCodes.Nop); il.Emit(OpCodes.Nop); il.Emit(OpCodes.Nop); }), Finally(true));
    }

    [Fact]
    public void A_base_type_is_reached_even_when_no_constructor_names_it()
    {
        // Its constructor does not call Outer's: only the base type links it to Outer.
        var derived = Subject(Body(_ => { }), parent: typeof(Outer));
        Assert.Equal(typeof(Outer), derived.BaseType);
        var reached = CodeIdentity.Reach([derived]);
        Assert.Contains($"{typeof(Outer)}::Int32 M()", reached);
        Assert.Contains($"{typeof(Outer.PublicNested)}::Int32 N()", reached);
    }

    /// <summary>Lib.Helper::Value() in an assembly loaded into a context of its own, so no subject can resolve it.</summary>
    static MethodInfo Unresolvable()
    {
        var name = new AssemblyName($"IwSft.TwinLib{Interlocked.Increment(ref _serial)}");
        var ab = new PersistedAssemblyBuilder(name, typeof(object).Assembly);
        var tb = ab.DefineDynamicModule(name.Name!).DefineType("Lib.Helper", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed);
        var il = tb.DefineMethod("Value", MethodAttributes.Public | MethodAttributes.Static, typeof(int), Type.EmptyTypes).GetILGenerator();
        il.Emit(OpCodes.Ldc_I4_1);
        il.Emit(OpCodes.Ret);
        tb.CreateType();
        using var ms = new MemoryStream();
        ab.Save(ms);
        ms.Position = 0;
        return new AssemblyLoadContext(name.Name, isCollectible: true).LoadFromStream(ms).GetType("Lib.Helper", throwOnError: true)!.GetMethod("Value")!;
    }

    [Fact]
    public void A_body_naming_what_cannot_be_loaded_still_has_an_identity()
    {
        var missing = Unresolvable();
        var calls = Body(il => { il.Emit(OpCodes.Call, missing); il.Emit(OpCodes.Pop); });
        Assert.Equal(["Twins.Subject::Void M(Int32, Int32)"], CodeIdentity.Reach([Subject(calls)]));
        Decides(calls, Body(il => { il.Emit(OpCodes.Ldc_I4_0); il.Emit(OpCodes.Pop); }));
    }

    [Fact]
    public void Bytes_that_are_no_instruction_still_decide()
    {
        // 0xFE 0x25 and 0xFE 0x26 are no instructions; a damaged or hand-made body still hashes by its bytes.
        Decides(Body(il => { il.Emit(OpCodes.Prefix1); il.Emit(OpCodes.Dup); }), Body(il => { il.Emit(OpCodes.Prefix1); il.Emit(OpCodes.Pop); }));
    }
}
